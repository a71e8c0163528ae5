"""The retention job: deleting notifications nobody will see again, in bounded batches.

Expired entries (never listed nor counted any more) and read entries read more than
NOTIFICATION_READ_RETENTION_DAYS ago are deleted `PURGE_BATCH` rows per statement, each in its
own short transaction, until none is left or `PURGE_MAX_BATCHES` statements ran (the rest waits
for the next run, every 10 minutes). Nobody's counts change (neither kind is counted), so no
stream event is written. Idempotent: several workers running it at once delete disjoint rows or
nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, select

from watchparty.kit.time import utcnow
from watchparty.notifications.models import Notification

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

PURGE_BATCH = 5000
PURGE_MAX_BATCHES = 20  # per run and kind: at most 100,000 rows of each


async def purge_notifications(ctx: dict[str, Any]) -> int:
    """The periodic job (every 10 minutes): how many entries it deleted."""
    state = ctx["state"]
    days = state.settings.notification_read_retention_days
    return await purge(state.sessionmaker, read_before=utcnow() - timedelta(days=days))


async def purge(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    read_before: datetime,
    now: datetime | None = None,
    batch: int = PURGE_BATCH,
    max_batches: int = PURGE_MAX_BATCHES,
) -> int:
    """Delete expired entries and entries read before `read_before`; how many."""
    now = now or utcnow()
    deleted = 0
    for condition in (
        Notification.expires_at <= now,
        Notification.read_at < read_before,
    ):
        for _ in range(max_batches):
            count = await _delete_some(sessionmaker, condition, batch)
            deleted += count
            if count < batch:
                break
    return deleted


async def _delete_some(
    sessionmaker: async_sessionmaker[AsyncSession], condition: ColumnElement[bool], batch: int
) -> int:
    """One statement, one transaction: at most `batch` rows matching `condition`."""
    some = select(Notification.id).where(condition).limit(batch).scalar_subquery()
    async with sessionmaker() as session, session.begin():
        result: Any = await session.execute(
            delete(Notification)
            .where(Notification.id.in_(some))
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)
