"""The jobs of scheduled parties (see `reminders.py`): the reminder before the start, the start,
and the sweep that does what lost jobs would have done.

Every one is idempotent: it locks the party row, acts only while the party still waits for the
start the job was enqueued for, and writes the reminder's marker in the same transaction as its
notifications (a marker already there: nothing happens). So a job that runs twice, late, on two
workers at once or in a race with the sweep, `startParty`, a reschedule or a deletion sends
nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, select

from watchparty.kit.time import epoch_ms, utcnow
from watchparty.parties.models import Party, PartyReminder, PartyStatus, ReminderKind
from watchparty.parties.reminders import (
    SOON_JOB,
    START_JOB,
    is_due_for,
    remind_soon,
    start_ms,
)
from watchparty.parties.service import mark_started

if TYPE_CHECKING:
    from watchparty.state import AppState

# A timer may fire a little before its moment (clocks of different processes, timer
# granularity): waiting that long inline is cheaper than rescheduling.
MAX_INLINE_WAIT_MS = 5_000.0
SWEEP_BATCH = 200  # parties per kind and sweep; the next minute takes the rest


async def _locked(uow: Any, party_id: uuid.UUID) -> Party | None:
    party: Party | None = await uow.session.scalar(
        select(Party).where(Party.id == party_id).with_for_update()
    )
    return party


async def fire_soon(state: AppState, party_id: uuid.UUID, scheduled_ms: int) -> str:
    """STARTING_SOON for the start at `scheduled_ms`, unless it changed, passed or was sent."""
    async with state.unit_of_work() as uow:
        party = await _locked(uow, party_id)
        if party is None or not is_due_for(party, scheduled_ms):
            return "stale"
        return "sent" if await remind_soon(uow, party) else "stale"


async def fire_start(state: AppState, party_id: uuid.UUID, scheduled_ms: int) -> str:
    """Start the party at `scheduled_ms` (LIVE, PARTY_STARTED), unless it changed or started."""
    async with state.unit_of_work() as uow:
        party = await _locked(uow, party_id)
        if party is None or not is_due_for(party, scheduled_ms):
            return "stale"
        await mark_started(uow, party, None)
        return "started"


async def _too_early(
    state: AppState, name: str, party_id: str, scheduled_ms: int, at_ms: float
) -> bool:
    """Wait inline for a moment a few seconds away; re-enqueue for a later one (True)."""
    remaining = at_ms - epoch_ms()
    if remaining > MAX_INLINE_WAIT_MS:
        await state.jobs.enqueue(
            name,
            job_id=f"party-reminder:{party_id}:{name}:{scheduled_ms}:again",
            defer_seconds=remaining / 1000.0,
            party_id=party_id,
            scheduled_ms=scheduled_ms,
        )
        return True
    if remaining > 0:
        await asyncio.sleep(remaining / 1000.0)
    return False


async def send_party_reminder(ctx: dict[str, Any], party_id: str, scheduled_ms: int) -> str:
    """PARTY_STARTING_SOON, PARTY_REMINDER_LEAD_SECONDS before the start at `scheduled_ms`."""
    state: AppState = ctx["state"]
    lead_ms = state.settings.party_reminder_lead_seconds * 1000
    if await _too_early(state, SOON_JOB, party_id, scheduled_ms, scheduled_ms - lead_ms):
        return "rescheduled"
    return await fire_soon(state, uuid.UUID(party_id), scheduled_ms)


async def start_scheduled_party(ctx: dict[str, Any], party_id: str, scheduled_ms: int) -> str:
    """At the start at `scheduled_ms`: the party goes LIVE by itself, PARTY_STARTED goes out."""
    state: AppState = ctx["state"]
    if await _too_early(state, START_JOB, party_id, scheduled_ms, scheduled_ms):
        return "rescheduled"
    return await fire_start(state, uuid.UUID(party_id), scheduled_ms)


async def sweep_party_reminders(ctx: dict[str, Any]) -> str:
    """Every minute: starts and reminders that are due and not done (their jobs were lost),
    done now through the same functions and markers as the jobs."""
    state: AppState = ctx["state"]
    now = utcnow()
    lead = timedelta(seconds=state.settings.party_reminder_lead_seconds)
    waiting = and_(
        Party.status == PartyStatus.SCHEDULED,
        Party.deleted_at.is_(None),
        Party.scheduled_start.is_not(None),
    )
    soon_sent = exists().where(
        PartyReminder.party_id == Party.id,
        PartyReminder.kind == ReminderKind.STARTING_SOON,
        PartyReminder.scheduled_start == Party.scheduled_start,
    )
    async with state.sessionmaker() as session:
        starts = (
            await session.execute(
                select(Party.id, Party.scheduled_start)
                .where(waiting, Party.scheduled_start <= now)
                .order_by(Party.scheduled_start)
                .limit(SWEEP_BATCH)
            )
        ).all()
        soon = (
            await session.execute(
                select(Party.id, Party.scheduled_start)
                .where(
                    waiting,
                    Party.scheduled_start > now,
                    Party.scheduled_start <= now + lead,
                    ~soon_sent,
                )
                .order_by(Party.scheduled_start)
                .limit(SWEEP_BATCH)
            )
        ).all()
    started = reminded = 0
    for party_id, start in starts:
        if start is not None:
            started += await fire_start(state, party_id, start_ms(start)) == "started"
    for party_id, start in soon:
        if start is not None:
            reminded += await fire_soon(state, party_id, start_ms(start)) == "sent"
    return f"started {started}, reminded {reminded}"
