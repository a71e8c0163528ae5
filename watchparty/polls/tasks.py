"""The job that closes a poll at its `closesAt`.

Enqueued after the poll is created, deferred to `closesAt`, with the id `close_due_poll:<poll>`.
Idempotent: it locks and re-reads the poll and records the close only once (a poll closed by
hand meanwhile, or by an earlier run, is left alone). Reads never wait for it: a poll past its
`closesAt` already reads CLOSED and refuses votes.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from watchparty.errors import NotFound
from watchparty.kit.time import utcnow
from watchparty.polls.models import Poll
from watchparty.polls.service import CLOSE_JOB, close_locked, lock_poll

if TYPE_CHECKING:
    from watchparty.state import AppState

# A timer may fire a little early (clocks, timer granularity): waiting that long inline is
# cheaper than rescheduling.
MAX_INLINE_WAIT_SECONDS = 5.0


async def close_due_poll(ctx: dict[str, Any], poll_id: str) -> str:
    state: AppState = ctx["state"]
    pid = uuid.UUID(poll_id)
    async with state.sessionmaker() as session:
        poll = await session.scalar(select(Poll).where(Poll.id == pid))
    if poll is None or poll.closed_at is not None or poll.closes_at is None:
        return "stale"
    early = (poll.closes_at - utcnow()).total_seconds()
    if early > MAX_INLINE_WAIT_SECONDS:
        await state.jobs.enqueue(
            CLOSE_JOB,
            job_id=f"{CLOSE_JOB}:{pid}:{poll.closes_at.timestamp():.0f}:again",
            defer_seconds=early,
            poll_id=poll_id,
        )
        return "rescheduled"
    if early > 0:
        await asyncio.sleep(early)
    try:
        async with state.unit_of_work() as uow:
            locked = await lock_poll(uow.session, poll)
            if locked.closed_at is not None:
                return "stale"
            await close_locked(uow, locked, utcnow())
    except NotFound:
        return "stale"  # deleted with its party meanwhile
    return "closed"
