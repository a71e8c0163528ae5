"""Scheduled parties: the reminder before the start, the start itself, and their sent-markers.

A SCHEDULED party with a `scheduledStart` gets two jobs, enqueued after the commit that set the
time (createParty, updateParty), deferred to their moment, with ids that carry the time
(`party-reminder:<party>:soon:<epoch ms>`, `party-reminder:<party>:start:<epoch ms>`):

- STARTING_SOON at start minus PARTY_REMINDER_LEAD_SECONDS (900), to the active members;
- at the start, the party starts by itself (`service.mark_started`: SCHEDULED -> LIVE, the same
  `PartyUpdated` as `startParty`, playback untouched) and STARTED goes to the active members.

Each job re-reads the party under its row lock and acts only while it is still SCHEDULED, not
deleted, with the same `scheduledStart` it was enqueued for: a rescheduled, cancelled (time
cleared), ended, deleted or already started party makes it a no-op, so nothing has to be
dequeued. Each reminder fires at most once per party and start time: a `PartyReminder` row
(unique party, kind, start) is inserted in the transaction that writes the notifications, and a
run that finds it does nothing. A start less than the lead time ahead (or a lead of 0) gets its
STARTING_SOON marker at once, as skipped: only STARTED is sent. `sweep_party_reminders` (every
minute) does what lost jobs (Redis keeps nothing on disk) would have done, through the same
functions and markers. The jobs and the sweep are `parties/reminder_tasks.py`.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.db import upsert_insert
from watchparty.kit.time import epoch_ms, utcnow
from watchparty.parties.models import (
    MemberStatus,
    Party,
    PartyMember,
    PartyReminder,
    PartyStatus,
    ReminderKind,
)
from watchparty.parties.notice_hooks import PartyNotice, PartyNoticeKind, party_noticed

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

SOON_JOB = "send_party_reminder"
START_JOB = "start_scheduled_party"


def schedule_at(uow: UnitOfWork, name: str, *, job_id: str, at_ms: float, **kwargs: Any) -> None:
    """Enqueue `name` after the commit, to run at epoch milliseconds `at_ms` (the delay is
    measured at enqueue time). Like `playback.schedule_at`, which this module cannot import
    (playback -> presence -> failover -> service -> here)."""
    state = uow.app

    async def enqueue() -> None:
        delay = max(0.0, (at_ms - epoch_ms()) / 1000.0)
        await state.jobs.enqueue(name, job_id=job_id, defer_seconds=delay, **kwargs)

    uow.after_commit(enqueue)


def start_ms(start: datetime) -> int:
    """A scheduled start as whole epoch milliseconds: what the jobs carry and compare."""
    return round(start.timestamp() * 1000)


def job_id(party_id: uuid.UUID, kind: str, start: datetime) -> str:
    return f"party-reminder:{party_id}:{kind}:{start_ms(start)}"


def is_due_for(party: Party | None, scheduled_ms: int) -> bool:
    """Whether `party` still waits for the start a job was enqueued for."""
    return (
        party is not None
        and party.deleted_at is None
        and party.status is PartyStatus.SCHEDULED
        and party.scheduled_start is not None
        and start_ms(party.scheduled_start) == scheduled_ms
    )


async def claim(
    session: AsyncSession,
    party_id: uuid.UUID,
    kind: ReminderKind,
    start: datetime,
    *,
    skipped: bool = False,
) -> bool:
    """Insert the marker of (party, kind, start); False when it was there already."""
    upsert = upsert_insert(session)
    statement = (
        upsert(PartyReminder)
        .values(
            id=uuid.uuid4(),
            party_id=party_id,
            kind=kind,
            scheduled_start=start,
            skipped=skipped,
            handled_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["party_id", "kind", "scheduled_start"])
        .returning(PartyReminder.id)
    )
    return (await session.scalar(statement)) is not None


async def active_member_ids(session: AsyncSession, party_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    rows = await session.scalars(
        select(PartyMember.user_id)
        .where(PartyMember.party_id == party_id, PartyMember.status == MemberStatus.ACTIVE)
        .order_by(PartyMember.joined_at, PartyMember.user_id)
    )
    return tuple(rows)


async def schedule_reminders(uow: UnitOfWork, party: Party) -> None:
    """Enqueue (after the commit) the jobs of the party's scheduled start; a STARTING_SOON whose
    moment has passed already is marked skipped now. Nothing for a party without a time."""
    start = party.scheduled_start
    if start is None or party.status is not PartyStatus.SCHEDULED:
        return
    lead = uow.app.settings.party_reminder_lead_seconds
    soon_at = start - timedelta(seconds=lead)
    if lead > 0 and soon_at > utcnow():
        schedule_at(
            uow,
            SOON_JOB,
            job_id=job_id(party.id, "soon", start),
            at_ms=soon_at.timestamp() * 1000,
            party_id=str(party.id),
            scheduled_ms=start_ms(start),
        )
    else:
        await claim(uow.session, party.id, ReminderKind.STARTING_SOON, start, skipped=True)
    schedule_at(
        uow,
        START_JOB,
        job_id=job_id(party.id, "start", start),
        at_ms=start.timestamp() * 1000,
        party_id=str(party.id),
        scheduled_ms=start_ms(start),
    )


async def remind_soon(uow: UnitOfWork, party: Party) -> bool:
    """STARTING_SOON to the active members of a (locked, still scheduled) party, once per start
    time; False when its marker was there or the start has come (STARTED is next)."""
    start = party.scheduled_start
    assert start is not None
    remaining = (start - utcnow()).total_seconds()
    if remaining <= 0:
        return False
    if not await claim(uow.session, party.id, ReminderKind.STARTING_SOON, start):
        return False
    notice = PartyNotice(
        PartyNoticeKind.STARTING_SOON,
        party.id,
        party.title,
        await active_member_ids(uow.session, party.id),
        starts_in_seconds=math.ceil(remaining),
    )
    await party_noticed(uow, notice)
    return True


async def announce_started(uow: UnitOfWork, party: Party, actor_id: uuid.UUID | None) -> None:
    """STARTED to the active members of a party that just went LIVE (flushed): by itself
    (`actor_id` None: everyone, the host too) or by `startParty` (everyone but who started it).
    Marks the scheduled start's STARTED as done, so its timer does nothing."""
    start = party.scheduled_start
    if start is not None and not await claim(uow.session, party.id, ReminderKind.STARTED, start):
        return
    notice = PartyNotice(
        PartyNoticeKind.STARTED,
        party.id,
        party.title,
        await active_member_ids(uow.session, party.id),
        actor_id=actor_id,
    )
    await party_noticed(uow, notice)
