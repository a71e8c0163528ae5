"""The SQL the scopes share: dialect fragments (PostgreSQL and SQLite), key batches, and the
guards that keep a stranger's property values from breaking a run.

Property values are whatever a client sent (the catalog bounds their names, not their types):
a number is read only when the JSON value is a number (`num`), so `"watchedSeconds": "abc"`
counts as absent instead of failing the cast; positions outside [0, MAX_POSITION_SECONDS) are
ignored.

Other domains' tables (`parties`, `videos`, `users`, `subscriptions`) are named in SQL text, not
imported: aggregation only checks that a key still exists (aggregates reference it with ON DELETE
CASCADE) and reads a few columns.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import Date, Uuid, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from watchparty.analytics.models import DRIFT_BUCKETS_MS, POSITION_BUCKET_SECONDS
from watchparty.db import UTCDateTime

T = TypeVar("T")

BATCH = 500  # keys (parties, videos, users) recomputed per statement
MAX_POSITION_SECONDS = 86_400  # a position beyond a day is not a real one
MAX_WATCHED_SECONDS = 60  # one heartbeat counts at most this much watching
MAX_BUFFERING_MS = 600_000  # one buffering counts at most ten minutes


def batches(keys: Sequence[T], size: int = BATCH) -> Iterator[list[T]]:
    for start in range(0, len(keys), size):
        yield list(keys[start : start + size])


def ids_param(name: str = "ids") -> BindParameter[uuid.UUID]:
    return bindparam(name, expanding=True, type_=Uuid())


def when_param(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=UTCDateTime(timezone=True))


def days_param(name: str = "days") -> BindParameter[date]:
    return bindparam(name, expanding=True, type_=Date())


class Dialect:
    """SQL fragments that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def num(self, key: str, column: str = "properties") -> str:
        """The property `key` when its JSON value is a number, else NULL."""
        if self.pg:
            return (
                f"(CASE WHEN jsonb_typeof({column}->'{key}') = 'number' "
                f"THEN ({column}->>'{key}')::float8 END)"
            )
        return (
            f"(CASE WHEN json_type({column}, '$.{key}') IN ('integer', 'real') "
            f"THEN CAST(json_extract({column}, '$.{key}') AS REAL) END)"
        )

    def clamp(self, expr: str, low: float, high: float) -> str:
        return (
            f"(CASE WHEN {expr} < {low} THEN {low} "
            f"WHEN {expr} > {high} THEN {high} ELSE {expr} END)"
        )

    def floor_int(self, expr: str) -> str:
        """floor() of a non-negative number, as an integer."""
        if self.pg:
            return f"CAST(FLOOR({expr}) AS INTEGER)"
        return f"CAST({expr} AS INTEGER)"

    def bucket(self, expr: str, size: int = POSITION_BUCKET_SECONDS) -> str:
        """The start (seconds) of the position bucket of a non-negative `expr`."""
        return f"({self.floor_int(f'({expr}) / {size}')} * {size})"

    def minute(self, column: str = "occurred_at") -> str:
        if self.pg:
            return f"date_trunc('minute', {column})"
        return f"strftime('%Y-%m-%d %H:%M:00.000000', {column})"

    def text(self, column: str) -> str:
        return f"CAST({column} AS VARCHAR)" if self.pg else f"CAST({column} AS TEXT)"

    def viewer(self) -> str:
        """Who an event is from: the user, else the anonymous id (NULL when neither)."""
        return (
            f"(CASE WHEN user_id IS NOT NULL THEN {self.text('user_id')} "
            "WHEN anonymous_id IS NOT NULL THEN 'a:' || anonymous_id END)"
        )

    def one_uuid(self, column: str) -> str:
        """The column's value when every row of the group has the same non-null one, else NULL."""
        pick = f"CAST(MIN(CAST({column} AS VARCHAR)) AS UUID)" if self.pg else f"MIN({column})"
        return (
            f"(CASE WHEN COUNT(DISTINCT {column}) = 1 AND COUNT({column}) = COUNT(*) "
            f"THEN {pick} END)"
        )


def drift_bucket(expr: str) -> str:
    """The `DRIFT_BUCKETS_MS` lower bound of a non-negative drift."""
    cases = " ".join(
        f"WHEN {expr} >= {bound} THEN {bound}" for bound in sorted(DRIFT_BUCKETS_MS, reverse=True)
    )
    return f"(CASE {cases} ELSE 0 END)"


def position_ok(column: str = "position_seconds") -> str:
    return f"({column} >= 0 AND {column} < {MAX_POSITION_SECONDS})"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's `percentile_cont` (linear interpolation) over sorted `values`."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


async def touched_days(
    session: AsyncSession, key: str, table: str, low: datetime, high: datetime
) -> dict[uuid.UUID, set[date]]:
    """The existing rows of `table` (`users`, `videos`) named by the events' `key` column
    (`user_id`, `video_id`) ingested in (low, high], each with the days of those events."""
    rows = await session.execute(
        text(
            f"SELECT DISTINCT e.{key}, e.day FROM analytics_events e "
            f"JOIN {table} ON {table}.id = e.{key} "
            "WHERE e.ingested_at > :low AND e.ingested_at <= :high"
        )
        .bindparams(when_param("low"), when_param("high"))
        .columns(column(key, Uuid()), column("day", Date())),
        {"low": low, "high": high},
    )
    found: dict[uuid.UUID, set[date]] = defaultdict(set)
    for key_id, day in rows:
        found[key_id].add(day)
    return dict(found)
