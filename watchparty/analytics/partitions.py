"""Day partitions of `analytics_events` (PostgreSQL): created ahead, dropped after the retention.

`analytics_partitions` (hourly) keeps yesterday through ANALYTICS_PARTITIONS_AHEAD days ahead
created and drops the partitions wholly older than ANALYTICS_RETENTION_DAYS; on SQLite (a plain
table) it deletes the rows older than that instead. The write paths do not depend on it: a row
whose day has no partition (the job missed a run) makes them create that day's partition and
retry (`ensure_partitions`), so no accepted event is ever lost to a missing partition.

A partition is named `analytics_events_YYYYMMDD` and covers one UTC day of the `day` column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection

from watchparty.analytics.models import AnalyticsEvent
from watchparty.kit.time import utcnow
from watchparty.state import AppState

log = logging.getLogger(__name__)

PARENT = "analytics_events"
_NAME = re.compile(r"^analytics_events_(\d{8})$")
NO_PARTITION = "no partition of relation"  # PostgreSQL's message for a row without a partition


def partition_name(day: date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


def create_statement(day: date) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
    )


def is_missing_partition(exc: BaseException) -> bool:
    return NO_PARTITION in str(exc)


async def ensure_partitions(conn: Any, days: Iterable[date]) -> None:
    """Create the partitions of `days` (an asyncpg connection, or SQLAlchemy's AsyncConnection),
    each in its own statement: two processes creating the same one at once is harmless."""
    for day in sorted(set(days)):
        statement = create_statement(day)
        try:
            if isinstance(conn, AsyncConnection):
                async with conn.begin_nested():
                    await conn.execute(text(statement))
            else:
                await conn.execute(statement)
        except Exception as exc:  # a concurrent CREATE of the same partition
            if "already exists" not in str(exc) and "duplicate key" not in str(exc):
                raise
        log.info("analytics partition ensured", extra={"partition": partition_name(day)})


async def existing_partitions(conn: AsyncConnection) -> list[date]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"
        ),
        {"parent": PARENT},
    )
    days = []
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            raw = match[1]
            days.append(date(int(raw[:4]), int(raw[4:6]), int(raw[6:])))
    return sorted(days)


async def maintain(state: AppState, *, today: date | None = None) -> tuple[list[date], int]:
    """Create the partitions due and drop (or, on SQLite, delete) what is past the retention.
    Returns (the partition days that exist now, partitions dropped or rows deleted)."""
    settings = state.settings
    today = today or utcnow().date()
    cutoff = today - timedelta(days=settings.analytics_retention_days)
    async with state.engine.begin() as conn:
        if conn.dialect.name != "postgresql":
            result = await conn.execute(delete(AnalyticsEvent).where(AnalyticsEvent.day < cutoff))
            return [], int(result.rowcount or 0)
        wanted = [
            today + timedelta(days=n) for n in range(-1, settings.analytics_partitions_ahead + 1)
        ]
        await ensure_partitions(conn, wanted)
        dropped = 0
        for day in await existing_partitions(conn):
            if day < cutoff:
                await conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
                log.info("analytics partition dropped", extra={"partition": partition_name(day)})
                dropped += 1
        return await existing_partitions(conn), dropped


async def analytics_partitions(ctx: dict[str, Any]) -> None:
    """Periodic job: partitions ahead, retention behind (idempotent)."""
    await maintain(ctx["state"])
