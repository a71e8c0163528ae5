"""Playback jobs: advance the queue when an item ends, end a buffering wait at its deadline.

Both are scheduled by `playback.transition` after the commit, at a server time, with
deterministic ids: `playback-advance:<party>:<revision>` and `playback-wait:<party>:<deadline>`.
Both are idempotent. They re-read the party and act only when the state they were scheduled for
still holds (same revision and the item really ended; same wait and its deadline passed), through
the same revision-guarded update as every control, so a job that runs twice, late, or in a race
with a controller changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from watchparty.kit.time import epoch_ms
from watchparty.parties.errors import RevisionConflict
from watchparty.parties.models import Party, PartyStatus
from watchparty.parties.playback import (
    ADVANCE_JOB,
    WAIT_JOB,
    Snapshot,
    load_item,
    load_queue,
    transition,
)
from watchparty.parties.timeline import PlaybackState, Timeline

if TYPE_CHECKING:
    from watchparty.state import AppState

# A timer may fire a little before the server clock reaches the target (clocks of different
# processes, timer granularity); waiting that long inline is cheaper than rescheduling.
MAX_INLINE_WAIT_MS = 5_000.0


async def _open_party(state: AppState, party_id: uuid.UUID) -> Party | None:
    async with state.sessionmaker() as session:
        party: Party | None = await session.scalar(
            select(Party).where(Party.id == party_id, Party.deleted_at.is_(None))
        )
        return party


async def _early_by_ms(target_ms: float) -> float:
    """Wait inline for a target a few seconds away; return how far off a later one still is."""
    remaining = target_ms - epoch_ms()
    if 0 < remaining <= MAX_INLINE_WAIT_MS:
        await asyncio.sleep(remaining / 1000.0)
        return 0.0
    return max(0.0, remaining)


async def advance_finished_item(ctx: dict[str, Any], party_id: str, revision: int) -> str:
    """The item playing at `revision` reached its end: play the next one, or end the timeline."""
    state: AppState = ctx["state"]
    pid = uuid.UUID(party_id)
    party = await _open_party(state, pid)
    if party is None or party.revision != revision or party.status is PartyStatus.ENDED:
        return "stale"
    async with state.sessionmaker() as session:
        ends_at = Snapshot(party, await load_queue(session, pid)).timeline.ends_at_ms()
    if ends_at is None:
        return "stale"
    if await _early_by_ms(ends_at) > 0:
        return await _reschedule(state, ADVANCE_JOB, pid, ends_at, revision=revision)

    def step(snap: Snapshot, now: float, lead: float) -> Timeline:
        timeline = snap.timeline
        ends = timeline.ends_at_ms()
        if timeline.state is not PlaybackState.PLAYING or ends is None or now < ends:
            return timeline
        index = snap.index()
        following = None if index is None or index + 1 >= len(snap.queue) else index + 1
        if following is None:
            return timeline.end(now)
        return load_item(snap, snap.queue[following], now, lead, autoplay=True)

    return await _apply(state, pid, revision, step)


async def end_buffering_wait(ctx: dict[str, Any], party_id: str, deadline_ms: float) -> str:
    """The wait that has this deadline is over: resume, listing whoever is still buffering."""
    state: AppState = ctx["state"]
    pid = uuid.UUID(party_id)
    party = await _open_party(state, pid)
    if (
        party is None
        or party.playback_state is not PlaybackState.WAITING
        or party.wait_deadline_ms != deadline_ms
    ):
        return "stale"
    if await _early_by_ms(deadline_ms) > 0:
        return await _reschedule(state, WAIT_JOB, pid, deadline_ms, deadline_ms=deadline_ms)

    def step(snap: Snapshot, now: float, lead: float) -> Timeline:
        timeline = snap.timeline
        if timeline.wait_deadline_ms != deadline_ms:
            return timeline
        resumed = timeline.wait_timeout(now, lead)
        if resumed is not timeline:
            snap.lagging = sorted(timeline.waiting_for)
        return resumed

    return await _apply(state, pid, party.revision, step)


async def _apply(
    state: AppState,
    party_id: uuid.UUID,
    revision: int,
    step: Any,
) -> str:
    try:
        async with state.unit_of_work() as uow:
            party = await uow.session.get(Party, party_id)
            if party is None:
                return "stale"
            before = party.revision
            stored = await transition(uow, party, step, expected=revision, actor_id=None)
            return "done" if stored.party.revision != before else "stale"
    except RevisionConflict:
        return "stale"  # a controller changed the timeline meanwhile; its change rescheduled


async def _reschedule(
    state: AppState, name: str, party_id: uuid.UUID, at_ms: float, **kwargs: Any
) -> str:
    """Far too early (a clock jump): run again at the target under a new id."""
    delay = (at_ms - epoch_ms()) / 1000.0
    await state.jobs.enqueue(
        name,
        job_id=f"{name}:{party_id}:{at_ms:.0f}:again",
        defer_seconds=delay,
        party_id=str(party_id),
        **kwargs,
    )
    return "rescheduled"
