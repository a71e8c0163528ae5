"""Processing the webhook inbox: the ARQ job `process_stripe_event(event_id)` and the replay.

Exactly once: Stripe is read first, outside any transaction (`handlers.prepare`); then one unit
of work locks the inbox row (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL: a second run
of the same event at the same moment skips it), applies the effects (`handlers.apply`) and
marks the row PROCESSED or IGNORED with a guarded `UPDATE ... WHERE status = 'PENDING'`
(SQLite, which has no row locks, relies on that guard). Effects and status commit together or
not at all.

A failure (Stripe down, a database error, a bug) rolls the effects back and is recorded on the
row in a unit of its own: `attempts + 1`, `last_error`; the job is then retried with the
workers' backoff (2, 4, 8, 16 s) and after `MAX_TRIES` attempts the row is FAILED
(`watchparty billing inbox`, `watchparty billing replay EVENT_ID`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from watchparty.billing import handlers
from watchparty.billing.models import InboxStatus, StripeEvent
from watchparty.jobs import MAX_TRIES
from watchparty.kit.time import utcnow
from watchparty.state import AppState

log = logging.getLogger(__name__)

ERROR_LENGTH = 2000


class _Taken(Exception):
    """Another run processed the event between the lock and the guarded update (SQLite)."""


async def process_stripe_event(ctx: dict[str, Any], *, event_id: str) -> str | None:
    """The job: process one inbox event (idempotent: a processed one is left alone)."""
    state: AppState = ctx["state"]
    status = await process(state, event_id)
    return None if status is None else status.value


async def process(state: AppState, event_id: str, *, final: bool = False) -> InboxStatus | None:
    """Process one PENDING event; returns its status afterwards (None: no such event, or
    another run holds it). A failure is recorded and re-raised; `final` makes it FAILED at
    once (a replay by hand) instead of after `MAX_TRIES` attempts."""
    async with state.sessionmaker() as session:
        event = await session.get(StripeEvent, event_id)
    if event is None:
        return None
    if event.status is not InboxStatus.PENDING:
        return event.status
    try:
        prepared = await handlers.prepare(state, event.type, event.payload)
        async with state.unit_of_work() as uow:
            locked = await uow.session.scalar(
                select(StripeEvent)
                .where(StripeEvent.id == event_id, StripeEvent.status == InboxStatus.PENDING)
                .with_for_update(skip_locked=True)
            )
            if locked is None:
                return None  # another run has it (or just finished it)
            outcome = await handlers.apply(uow, locked, prepared)
            done = await uow.session.execute(
                update(StripeEvent)
                .where(StripeEvent.id == event_id, StripeEvent.status == InboxStatus.PENDING)
                .values(
                    status=outcome.status,
                    processed_at=utcnow(),
                    attempts=StripeEvent.attempts + 1,
                    last_error=outcome.note,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 1) != 1:
                raise _Taken()
    except _Taken:
        return None
    except Exception as exc:
        await _record_failure(state, event_id, exc, final=final)
        raise
    log.info(
        "stripe event processed",
        extra={"event_id": event_id, "type": event.type, "status": outcome.status.value},
    )
    return outcome.status


async def _record_failure(state: AppState, event_id: str, exc: Exception, *, final: bool) -> None:
    message = f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]
    async with state.unit_of_work() as uow:
        event = await uow.session.scalar(
            select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
        )
        if event is None or event.status is not InboxStatus.PENDING:
            return
        event.attempts += 1
        event.last_error = message
        if final or event.attempts >= MAX_TRIES:
            event.status = InboxStatus.FAILED
    log.warning(
        "stripe event failed",
        extra={"event_id": event_id, "attempts": event.attempts, "error": message},
    )


async def replay(state: AppState, event_id: str) -> InboxStatus | None:
    """Process a FAILED, IGNORED or PENDING event again, now, in this process (the CLI). A
    PROCESSED one is left alone (its notifications would be sent twice)."""
    async with state.unit_of_work() as uow:
        event = await uow.session.scalar(
            select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
        )
        if event is None:
            return None
        if event.status is InboxStatus.PROCESSED:
            return event.status
        event.status = InboxStatus.PENDING
    return await process(state, event_id, final=True)
