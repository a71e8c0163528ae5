"""One scope's incremental run: lock the scope's watermark, read what was ingested since, and
recompute the touched keys, all in one transaction.

1. The watermark row (`analytics_watermarks`, created at the epoch the first time) is locked:
   `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the row's INSERT ... ON CONFLICT DO NOTHING
   is the transaction's first statement, so it takes the database's write lock (writers
   serialize there). A second run of the same scope waits here until the first commits, then
   reads the new watermark: it finds nothing, or only what arrived since.
2. The new watermark is `now - ANALYTICS_AGGREGATION_LAG_SECONDS` (read after the lock). A row
   is stamped `ingested_at` when its transaction starts (PostgreSQL's CURRENT_TIMESTAMP) and
   becomes visible when it commits; the lag is how long an ingest transaction may take without
   its rows landing behind a watermark that already passed them.
3. The keys with events ingested in (watermark, new] are recomputed from all their events
   (delete + insert: never an increment, so a re-run writes the same rows); late events (old
   `occurred_at`, new `ingested_at`) are included because their keys are recomputed.
4. The watermark moves to the new value in the same transaction. A run that dies rolls back
   everything: the watermark stays and the next run does the work again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from watchparty.analytics.aggregate import party, system, user, video
from watchparty.analytics.aggregate.sql import Dialect, batches, when_param
from watchparty.analytics.models import AnalyticsEvent, AnalyticsWatermark
from watchparty.db import upsert_insert
from watchparty.kit.time import utcnow

SCOPES = ("party", "video", "user", "system")
ALL = "all"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScopeRun:
    """What one scope's run did: events read, keys recomputed, the watermark it left."""

    scope: str
    events: int
    keys: int
    watermark: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "events": self.events,
            "keys": self.keys,
            "watermark": self.watermark.isoformat(),
        }


def scopes_of(scope: str) -> tuple[str, ...]:
    return SCOPES if scope == ALL else (scope,)


async def lock_watermark(session: AsyncSession, scope: str) -> datetime:
    insert = upsert_insert(session)
    await session.execute(
        insert(AnalyticsWatermark)
        .values(scope=scope, ingested_through=EPOCH, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["scope"])
    )
    through = await session.scalar(
        select(AnalyticsWatermark.ingested_through)
        .where(AnalyticsWatermark.scope == scope)
        .with_for_update()
    )
    assert through is not None
    return through


async def pending(
    sessionmaker: async_sessionmaker[AsyncSession], scopes: tuple[str, ...], lag: timedelta
) -> bool:
    """Whether any scope has events to read (without locking: a hint for the cron)."""
    async with sessionmaker() as session:
        found_marks = await session.execute(
            select(AnalyticsWatermark.scope, AnalyticsWatermark.ingested_through).where(
                AnalyticsWatermark.scope.in_(scopes)
            )
        )
        marks = {scope: through for scope, through in found_marks}
        low = min((marks.get(scope, EPOCH) for scope in scopes), default=EPOCH)
        found = await session.scalar(
            select(AnalyticsEvent.id)
            .where(AnalyticsEvent.ingested_at > low, AnalyticsEvent.ingested_at <= utcnow() - lag)
            .limit(1)
        )
        return found is not None


async def _count(session: AsyncSession, low: datetime, high: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AnalyticsEvent)
        .where(AnalyticsEvent.ingested_at > low, AnalyticsEvent.ingested_at <= high)
    )
    return int(count or 0)


async def _party(session: AsyncSession, d: Dialect, low: datetime, high: datetime) -> int:
    ids = await party.touched(session, low, high)
    now = utcnow()
    for batch in batches(ids):
        await party.recompute(session, d, batch, now)
    return len(ids)


async def _video(session: AsyncSession, d: Dialect, low: datetime, high: datetime) -> int:
    keys = await video.touched(session, low, high)
    await video.recompute(session, d, keys)
    return len(keys)


async def _user(session: AsyncSession, d: Dialect, low: datetime, high: datetime) -> int:
    keys = await user.touched(session, low, high)
    await user.recompute(session, d, keys)
    return sum(len(days) for days in keys.values())


def _system(grace_days: float) -> Callable[..., Awaitable[int]]:
    async def run(session: AsyncSession, d: Dialect, low: datetime, high: datetime) -> int:
        days = await system.touched(session, low, high)
        await system.recompute(session, d, days, utcnow(), grace_days)
        return len(days)

    return run


async def aggregate_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
    scope: str,
    *,
    lag: timedelta,
    grace_days: float,
) -> ScopeRun:
    """One scope's run, in one transaction (see the module's docstring)."""
    recompute = {"party": _party, "video": _video, "user": _user, "system": _system(grace_days)}
    async with sessionmaker() as session, session.begin():
        d = Dialect(session.get_bind().dialect.name)
        low = await lock_watermark(session, scope)
        high = utcnow() - lag
        if high <= low:
            return ScopeRun(scope, 0, 0, low)
        events = await _count(session, low, high)
        keys = await recompute[scope](session, d, low, high) if events else 0
        await session.execute(
            text(
                "UPDATE analytics_watermarks SET ingested_through = :high, updated_at = :now "
                "WHERE scope = :scope"
            ).bindparams(when_param("high"), when_param("now")),
            {"high": high, "now": utcnow(), "scope": scope},
        )
        return ScopeRun(scope, events, keys, high)


def job_key(job_id: uuid.UUID | str) -> str:
    return f"analytics-aggregate:{job_id}"
