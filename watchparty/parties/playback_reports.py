"""Player reports and the bounded buffering wait (SYNC.md, "Buffering and readiness, bounded").

A report is never fanned out: it updates the reporter's membership row (drift, round trip) and
only a resulting timeline change (a wait begins, a member is released, the wait resumes) records
`PlaybackChanged`.

Drift is `reported position - timeline position` at the moment the player sampled its position.
The client's clock is not the server's, so that moment is estimated on the server's clock: the
time the report was received minus half the reported round trip (when given). `clientTimeMs` is
echoed back only for the client's own bookkeeping.

Reports are rate limited per member (`RATE_LIMIT_PLAYER_REPORTS`, 10 a second by default): a
report beyond the limit is answered `RateLimited` and changes nothing, so a client knows to send
its next state change again rather than assume it landed.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from watchparty import tracking
from watchparty.errors import NotFound, ValidationProblem
from watchparty.kit.ratelimit import Limit
from watchparty.parties.authz import (
    load_party,
    parse_id,
    require_member,
    require_not_ended,
    require_role,
)
from watchparty.parties.models import MemberRole, MemberStatus, PartyMember
from watchparty.parties.playback import (
    Snapshot,
    current_payload,
    load_queue,
    transition,
)
from watchparty.parties.timeline import (
    MAX_POSITION_SECONDS,
    MAX_WAIT_MS,
    PlaybackState,
    PlayerState,
    Timeline,
)

if TYPE_CHECKING:
    from typing import Any

    from watchparty.db import UnitOfWork
    from watchparty.state import AppState

MAX_RTT_MS = 60_000.0
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000.0


@dataclass
class Report:
    state: PlayerState
    position_seconds: float
    client_time_ms: float
    received_ms: float  # server time when the request arrived
    rtt_ms: float | None = None
    item_id: str | None = None


@dataclass
class ReportOutcome:
    drift_ms: float | None
    revision: int


def _check(report: Report) -> None:
    position = report.position_seconds
    if not (math.isfinite(position) and 0 <= position <= MAX_POSITION_SECONDS):
        raise ValidationProblem(
            f"The position must be 0 to {MAX_POSITION_SECONDS:g} seconds.",
            field="positionSeconds",
        )
    skew = report.client_time_ms - report.received_ms
    if not (math.isfinite(skew) and abs(skew) <= MAX_CLOCK_SKEW_MS):
        raise ValidationProblem(
            "A time in epoch milliseconds, within a day of the server's clock.",
            field="clientTimeMs",
        )
    rtt = report.rtt_ms
    if rtt is not None and not (math.isfinite(rtt) and 0 <= rtt <= MAX_RTT_MS):
        raise ValidationProblem(f"Between 0 and {MAX_RTT_MS:g} milliseconds.", field="rttMs")


def drift_ms(report: Report, snap: Snapshot) -> float | None:
    """How far the member's player is ahead (+) or behind (-) the timeline, in ms."""
    timeline = snap.timeline
    current = snap.party.current_item_id
    if timeline.state is PlaybackState.IDLE or current is None:
        return None
    if report.item_id is not None and parse_id(report.item_id) != current:
        return None  # the player still has another item loaded
    sampled_at = report.received_ms - (report.rtt_ms or 0.0) / 2
    expected = timeline.position_at(sampled_at)
    return round((report.position_seconds - expected) * 1000.0, 1)


def _wait_timeout_ms(seconds: int) -> float:
    return min(max(float(seconds), 1.0), MAX_WAIT_MS / 1000.0) * 1000.0


async def report_player_state(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, report: Report
) -> ReportOutcome:
    _check(report)
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    member = require_member(access)
    party = access.party
    require_not_ended(party)
    limit = Limit.parse(uow.app.settings.rate_limit_player_reports)
    await uow.app.limiter.hit(f"player-report:{party.id}:{viewer_id}", limit)

    snap = Snapshot(party, await load_queue(session, party.id))
    drift = drift_ms(report, snap)
    if drift is not None:  # an idle party or another item loaded keeps the last measure
        member.last_drift_ms = drift
    if report.rtt_ms is not None:
        member.last_rtt_ms = report.rtt_ms
    await session.flush()

    user = str(viewer_id)
    buffering = report.state is PlayerState.BUFFERING
    current = snap.current
    tracking.track(
        uow,
        "player.report",
        user_id=viewer_id,
        party_id=party.id,
        video_id=current.video_id if current is not None else None,
        position_seconds=report.position_seconds,
        driftMs=drift,
        buffering=buffering,
    )
    timeout_ms = _wait_timeout_ms(party.buffering_timeout_seconds)
    waits = party.wait_for_buffering and not member.ignore_wait

    def step(snap: Snapshot, now: float, lead: float) -> Timeline:
        timeline = snap.timeline
        if buffering:
            return timeline.begin_wait(now, [user], timeout_ms) if waits else timeline
        return timeline.member_ready(user, now, lead)  # a no-op unless it was waited for

    timeline = snap.timeline
    if buffering:
        relevant = waits and timeline.state in (PlaybackState.PLAYING, PlaybackState.WAITING)
    else:
        relevant = user in timeline.waiting_for
    if not relevant:  # the common case: a routine report changes no timeline, costs no more
        return ReportOutcome(drift_ms=drift, revision=timeline.revision)
    stored = await transition(uow, party, step, expected=None, actor_id=None)
    return ReportOutcome(drift_ms=drift, revision=stored.party.revision)


async def set_ignore_wait(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str, ignore: bool
) -> dict[str, Any]:
    """A member stops (or starts again) counting for the buffering wait: themselves, or anyone
    when the viewer is the host or a co-host. Returns the playback payload."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    require_member(access)
    party = access.party
    require_not_ended(party)
    target_id = parse_id(user_id)
    if target_id != viewer_id:
        require_role(access, MemberRole.COHOST)
    target = None
    if target_id is not None:
        target = await session.scalar(
            select(PartyMember).where(
                PartyMember.party_id == party.id,
                PartyMember.user_id == target_id,
                PartyMember.status == MemberStatus.ACTIVE,
            )
        )
    if target is None:
        raise NotFound("Member not found.", field="userId")
    target.ignore_wait = ignore
    await session.flush()
    snap = Snapshot(party, await load_queue(session, party.id))
    if ignore:
        released = str(target.user_id)

        def release(snap: Snapshot, now: float, lead: float) -> Timeline:
            return snap.timeline.release([released], now, lead)

        snap = await transition(uow, party, release, expected=None, actor_id=viewer_id)
    return await current_payload(session, snap)


async def release_member(state: AppState, party_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Stop waiting for a member who went offline (for the presence layer to call)."""
    async with state.unit_of_work() as uow:
        from watchparty.parties.models import Party

        party = await uow.session.get(Party, party_id)
        if party is None or party.playback_state is not PlaybackState.WAITING:
            return
        released = str(user_id)
        if released not in (party.waiting_for or []):
            return

        def release(snap: Snapshot, now: float, lead: float) -> Timeline:
            return snap.timeline.release([released], now, lead)

        await transition(uow, party, release, expected=None, actor_id=None)
