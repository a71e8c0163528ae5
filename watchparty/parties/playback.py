"""Playback: the party's timeline under concurrent control (SYNC.md). No GraphQL here.

Every change goes through `transition`: read the party and its queue, apply a pure `Timeline`
step, and store the result with one guarded row update (`... WHERE id = :id AND revision =
:read`). Whoever loses a race between two processes updates no row: with `expectedRevision` that
is a `RevisionConflict` carrying the fresh timeline. Without it the control never conflicts: the
loser re-reads the party with a row lock (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's lost
update already holds its single write lock) and re-applies the step on that state, which it now
holds until its commit, so the next attempt wins (last writer wins). So two processes can never
both write revision N+1, each applied control gets its own revision, and a guarded control never
silently overwrites one it did not see. The uncontended path costs no extra statement.

A stored change records `PlaybackChanged` in the same unit of work and, after the commit,
schedules its follow-up jobs (`parties.tasks`): advancing the queue when a playing item ends,
ending a buffering wait at its deadline. Job ids are deterministic (party and revision, or the
wait's deadline) and the jobs re-check the state, so a stale or repeated job does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from watchparty import tracking
from watchparty.accounts.models import User
from watchparty.errors import NotAllowed, NotFound
from watchparty.events import record
from watchparty.kit.time import epoch_ms
from watchparty.parties.authz import (
    PartyAccess,
    can_control,
    load_party,
    parse_id,
    require_not_ended,
)
from watchparty.parties.errors import RevisionConflict, TimelineError
from watchparty.parties.events import PlaybackChanged, party_channel
from watchparty.parties.models import (
    MemberStatus,
    Party,
    PartyMember,
    QueueItem,
    timeline_of,
    timeline_values,
)
from watchparty.parties.payloads import playback_payload, playback_user_ids
from watchparty.parties.presence import get_presence
from watchparty.parties.timeline import (
    MAX_LEAD_MS,
    MIN_LEAD_MS,
    PlaybackState,
    Timeline,
    check_revision,
    lead_ms,
)

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.state import AppState

ADVANCE_JOB = "advance_finished_item"
WAIT_JOB = "end_buffering_wait"
ITEM_NOT_FOUND = "Queue item not found."
# Attempts of an unguarded step: after the first loss the row is locked, so the second wins; the
# bound only turns a bug (or a database without row locks) into an error instead of a spin.
UNGUARDED_ATTEMPTS = 50


@dataclass
class Snapshot:
    """What a step sees: the party row, its queue in order, and the timeline they make."""

    party: Party
    queue: list[QueueItem]
    lagging: list[str] = field(default_factory=list)  # set by steps that cut a wait short
    # The playback payload as `transition` published it: callers answering the mutation reuse it
    # (`current_payload`) instead of reading the same users again.
    published: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def current(self) -> QueueItem | None:
        return find_item(self.queue, self.party.current_item_id)

    @cached_property
    def timeline(self) -> Timeline:
        """Computed once: a step returning this very object is a no-op."""
        current = self.current
        return timeline_of(self.party, None if current is None else current.duration_seconds)

    def index(self) -> int | None:
        current = self.party.current_item_id
        return next((i for i, item in enumerate(self.queue) if item.id == current), None)


Step = Callable[[Snapshot, float, float], Timeline]  # (snapshot, now_ms, lead_ms) -> timeline


def find_item(queue: Iterable[QueueItem], item_id: uuid.UUID | None) -> QueueItem | None:
    return None if item_id is None else next((i for i in queue if i.id == item_id), None)


async def load_controllable(
    session: AsyncSession, party_id: str | uuid.UUID, viewer_id: uuid.UUID
) -> PartyAccess:
    """The party, when the viewer may control its playback and queue (per its control policy)."""
    # The viewer's user comes along: a stored control names them (updatedBy), no read of it.
    access = await load_party(session, party_id, viewer_id, with_viewer=True)
    require_not_ended(access.party)
    if not can_control(access):
        raise NotAllowed("You may not control playback in this party.")
    return access


async def load_queue(session: AsyncSession, party_id: uuid.UUID) -> list[QueueItem]:
    rows = await session.scalars(
        select(QueueItem)
        .where(QueueItem.party_id == party_id)
        .order_by(QueueItem.position, QueueItem.created_at)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def users_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, User]:
    """These users; those this session already holds are not read again."""
    found: dict[uuid.UUID, User] = {}
    wanted = set()
    identity_map = session.sync_session.identity_map
    for user_id in set(ids):
        held = identity_map.get(identity_key(User, user_id))
        if isinstance(held, User) and not inspect(held).expired_attributes:
            found[user_id] = held
        else:
            wanted.add(user_id)
    if wanted:
        rows = await session.scalars(select(User).where(User.id.in_(wanted)))
        found.update((u.id, u) for u in rows)
    return found


async def current_payload(session: AsyncSession, snap: Snapshot) -> dict[str, Any]:
    if snap.published is not None:
        return snap.published
    users = await users_by_id(session, playback_user_ids(snap.party))
    return playback_payload(snap.party, snap.current, users)


async def party_lead_ms(session: AsyncSession, state: AppState, party_id: uuid.UUID) -> float:
    """The start lead for this party, from the measured round trips of its online members."""
    online = await get_presence(state).online_user_ids(party_id)
    if not online:
        return lead_ms([])
    rtts = await session.scalars(
        select(PartyMember.last_rtt_ms).where(
            PartyMember.party_id == party_id,
            PartyMember.status == MemberStatus.ACTIVE,
            PartyMember.user_id.in_(online),
            PartyMember.last_rtt_ms.is_not(None),
        )
    )
    return lead_ms(r for r in rtts if r is not None)


async def _store(
    session: AsyncSession,
    party: Party,
    read_revision: int,
    new: Timeline,
    actor_id: uuid.UUID | None,
    lagging: list[str],
) -> bool:
    """The guarded update; False when another writer got there first (no row matched)."""
    values = timeline_values(new)
    values["playback_updated_by_id"] = actor_id
    if lagging and new.state is not PlaybackState.WAITING:
        values["waiting_for"] = sorted(lagging)  # kept as "lagging" until the next change
    result: Any = await session.execute(
        update(Party)
        .where(Party.id == party.id, Party.revision == read_revision)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    for key, value in values.items():  # the row as stored, without marking the object dirty
        set_committed_value(party, key, value)
    return True


async def transition(
    uow: UnitOfWork,
    party: Party,
    step: Step,
    *,
    expected: int | None,
    actor_id: uuid.UUID | None,
) -> Snapshot:
    """Apply `step` atomically (see the module docstring); returns the snapshot as stored.

    `actor_id` is who the stored timeline names as its last changer (None: the system, a job
    or a member's player). A step returning the very same timeline is a no-op: nothing stored,
    nothing published.
    """
    session = uow.session
    fetched: float | None = None  # the party's lead, read once a step needs it
    for _attempt in range(UNGUARDED_ATTEMPTS):
        snap = Snapshot(party, await load_queue(session, party.id))
        timeline = snap.timeline
        try:
            check_revision(timeline, expected)
        except RevisionConflict as stale:
            stale.extra["playback"] = await current_payload(session, snap)
            raise
        now = epoch_ms()
        if fetched is None and _depends_on_lead(step, snap, now):
            fetched = await party_lead_ms(session, uow.app, party.id)
            now = epoch_ms()
        new = step(snap, now, MIN_LEAD_MS if fetched is None else fetched)
        if new is timeline or new.revision == timeline.revision:
            return snap
        if await _store(session, party, timeline.revision, new, actor_id, snap.lagging):
            break
        if expected is not None:  # lost the race: the client is told what won
            await session.refresh(party)
            fresh = Snapshot(party, await load_queue(session, party.id))
            conflict = RevisionConflict(fresh.timeline, expected)
            conflict.extra["playback"] = await current_payload(session, fresh)
            raise conflict
        # Unguarded: read what the winner stored and hold the row until we commit, then re-apply.
        await session.refresh(party, with_for_update=True)
    else:
        raise RuntimeError(f"playback of party {party.id}: lost {UNGUARDED_ATTEMPTS} races")
    stored = Snapshot(party, snap.queue)
    stored.published = payload = await current_payload(session, stored)
    await record(uow, party_channel(party.id), PlaybackChanged(playback=payload))
    _schedule_follow_ups(uow, party.id, timeline, new)
    return stored


def _depends_on_lead(step: Step, snap: Snapshot, now: float) -> bool:
    """Whether the step's outcome depends on the lead (a start, anything anchored while the
    playhead moves); a seek or a rate change while paused does not, and skips reading the online
    members' round trips. Steps are pure: trying both bounds changes nothing. A step that raises
    is left to raise from the real call."""
    try:
        return bool(step(snap, now, MIN_LEAD_MS) != step(snap, now, MAX_LEAD_MS))
    except Exception:
        return True


def _schedule_follow_ups(
    uow: UnitOfWork, party_id: uuid.UUID, old: Timeline, new: Timeline
) -> None:
    ends_at = new.ends_at_ms()
    if ends_at is not None:
        schedule_at(
            uow,
            ADVANCE_JOB,
            job_id=f"playback-advance:{party_id}:{new.revision}",
            at_ms=ends_at,
            party_id=str(party_id),
            revision=new.revision,
        )
    deadline = new.wait_deadline_ms
    if deadline is not None and deadline != old.wait_deadline_ms:
        schedule_at(
            uow,
            WAIT_JOB,
            job_id=f"playback-wait:{party_id}:{deadline:.0f}",
            at_ms=deadline,
            party_id=str(party_id),
            deadline_ms=deadline,
        )


def schedule_at(uow: UnitOfWork, name: str, *, job_id: str, at_ms: float, **kwargs: Any) -> None:
    """Enqueue `name` after the commit, to run at server time `at_ms` (the delay is measured at
    enqueue time, so a slow commit does not push it later)."""
    state = uow.app

    async def enqueue() -> None:
        delay = max(0.0, (at_ms - epoch_ms()) / 1000.0)
        await state.jobs.enqueue(name, job_id=job_id, defer_seconds=delay, **kwargs)

    uow.after_commit(enqueue)


# -- controls -------------------------------------------------------------------------------------


def _keeps_playing(timeline: Timeline) -> bool:
    """Whether moving to another item should start it (it was playing, or had just ended)."""
    return timeline.state in (PlaybackState.PLAYING, PlaybackState.WAITING, PlaybackState.ENDED)


def load_item(
    snap: Snapshot, item: QueueItem, now: float, lead: float, *, autoplay: bool
) -> Timeline:
    return snap.timeline.change_item(
        str(item.id), item.duration_seconds, now, autoplay=autoplay, lead_ms=lead
    )


def play_step(snap: Snapshot, now: float, lead: float) -> Timeline:
    timeline = snap.timeline
    if timeline.state is PlaybackState.IDLE:
        if not snap.queue:
            raise TimelineError("Nothing to play: the queue is empty.")
        return load_item(snap, snap.queue[0], now, lead, autoplay=True)
    if timeline.state is PlaybackState.WAITING:
        snap.lagging = sorted(timeline.waiting_for)  # started without them
    return timeline.play(now, lead)


def pause_step(snap: Snapshot, now: float, lead: float) -> Timeline:
    return snap.timeline.pause(now, lead)


def seek_step(position: float) -> Step:
    return lambda snap, now, lead: snap.timeline.seek(position, now, lead)


def rate_step(rate: float) -> Step:
    return lambda snap, now, lead: snap.timeline.set_rate(rate, now, lead)


def play_item_step(item_id: str) -> Step:
    wanted = parse_id(item_id)

    def step(snap: Snapshot, now: float, lead: float) -> Timeline:
        item = find_item(snap.queue, wanted)
        if item is None:
            raise NotFound(ITEM_NOT_FOUND)
        return load_item(snap, item, now, lead, autoplay=True)

    return step


def skip_step(offset: int) -> Step:
    """To the next (+1) or previous (-1) item; from IDLE, `next` loads the first one paused."""

    def step(snap: Snapshot, now: float, lead: float) -> Timeline:
        timeline = snap.timeline
        index = snap.index()
        if index is None:
            if offset > 0 and snap.queue:
                return load_item(snap, snap.queue[0], now, lead, autoplay=False)
            raise TimelineError("Nothing is playing.")
        target = index + offset
        if not 0 <= target < len(snap.queue):
            where = "next" if offset > 0 else "previous"
            raise TimelineError(f"There is no {where} item in the queue.")
        return load_item(snap, snap.queue[target], now, lead, autoplay=_keeps_playing(timeline))

    return step


async def control(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, step: Step, *, expected: int | None
) -> dict[str, Any]:
    """A playback control by a controller; returns the playback payload after it."""
    access = await load_controllable(uow.session, party_id, viewer_id)
    snap = await transition(uow, access.party, step, expected=expected, actor_id=viewer_id)
    _track_control(uow, viewer_id, snap, step)
    return await current_payload(uow.session, snap)


def _track_control(uow: UnitOfWork, viewer_id: uuid.UUID, snap: Snapshot, step: Step) -> None:
    """`party.playback` with the action (`seek_step(...)` -> SEEK), the library video playing
    and the position after the control."""
    action = getattr(step, "__qualname__", "").split(".")[0].removesuffix("_step").upper()
    timeline, current = snap.timeline, snap.current
    tracking.track(
        uow,
        "party.playback",
        user_id=viewer_id,
        party_id=snap.party.id,
        video_id=current.video_id if current is not None else None,
        # where the control puts the playhead: at its anchor when that is still ahead
        position_seconds=(
            max(0.0, timeline.position_at(max(epoch_ms(), timeline.anchor_ms))) if current else None
        ),
        action=action,
        rate=timeline.rate,
    )
