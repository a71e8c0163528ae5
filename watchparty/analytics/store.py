"""The write path of analytics events: accepted means durable, in Redis or in the database.

With Redis (the production stack), a call's events go to Redis in ONE Lua script: each event's
`(day, id)` is claimed with `SET NX` (a retry of an event already accepted counts as a
duplicate and is not stored again) and the new ones are appended as one stream entry (`XADD`).
When the stream already holds ANALYTICS_STREAM_MAX_ENTRIES undrained entries the script adds
nothing and the caller gets `RateLimited` (backpressure: Redis memory stays bounded). The worker's
`drain_analytics_events` (every second) reads the stream through a consumer group in large
batches, `COPY`s them into a temporary staging table, moves them into `analytics_events` with
`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, then `XACK`s and `XDEL`s the entries. A worker
killed between the COPY and the XACK leaves its entries pending; another drain claims them after
ANALYTICS_CLAIM_IDLE_SECONDS (`XAUTOCLAIM`) and the key `(day, id)` makes the replay write
nothing twice.
Redis must persist (AOF) for "accepted" to survive a Redis restart; see README.

Without Redis (embedded), or while it is unavailable (the circuit breaker is open or a call
fails), the events are inserted in the request: one multi-row `INSERT ... ON CONFLICT DO
NOTHING ... RETURNING` (duplicates counted exactly by what it did not return).

A row whose day has no partition yet creates it and is retried (`partitions.ensure_partitions`).

The server's own events (`watchparty.tracking`) come through `server_sink`: buffered in the
process for `SERVER_FLUSH_SECONDS` and written through the same `store`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy.exc import IntegrityError

from watchparty.analytics.catalog import CATALOG, SERVER_NAMES
from watchparty.analytics.models import AnalyticsEvent, EventSource
from watchparty.analytics.partitions import ensure_partitions, is_missing_partition
from watchparty.db import upsert_insert
from watchparty.errors import RateLimited
from watchparty.kit.redis_guard import UNAVAILABLE
from watchparty.state import AppState
from watchparty.tracking import Tracked

log = logging.getLogger(__name__)

GROUP = "drain"
ENTRY_VERSION = b"1"
READ_ENTRIES = 100  # stream entries per drain step (each holds one call's events, <= 500)
DRAIN_SECONDS = 20.0  # one drain run stops after this (the next tick goes on)
BACKPRESSURE_RETRY_SECONDS = 2
SERVER_FLUSH_SECONDS = 0.2
SERVER_BUFFER_MAX = 10_000  # server events waiting in a process; beyond, they are dropped

COLUMNS = (
    "day",
    "id",
    "name",
    "source",
    "occurred_at",
    "received_at",
    "user_id",
    "anonymous_id",
    "party_id",
    "video_id",
    "position_seconds",
    "properties",
    "ip",
    "browser",
    "os",
    "device",
)


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def _at(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One row of `analytics_events`, as validated (ingest.py) or tracked by the server. Its
    stream encoding (`encode`/`decode`, entry version 1) is a JSON array in `COLUMNS` order."""

    day: date
    id: str
    name: str
    source: EventSource
    occurred_at: datetime
    received_at: datetime
    user_id: uuid.UUID | None = None
    anonymous_id: str | None = None
    party_id: uuid.UUID | None = None
    video_id: uuid.UUID | None = None
    position_seconds: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    browser: str | None = None
    os: str | None = None
    device: str | None = None

    def encode(self) -> str:
        return json.dumps(
            [
                self.day.isoformat(),
                self.id,
                self.name,
                self.source.value,
                _ms(self.occurred_at),
                _ms(self.received_at),
                str(self.user_id) if self.user_id else None,
                self.anonymous_id,
                str(self.party_id) if self.party_id else None,
                str(self.video_id) if self.video_id else None,
                self.position_seconds,
                self.properties,
                self.ip,
                self.browser,
                self.os,
                self.device,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, item: list[Any]) -> EventRow:
        return cls(
            date.fromisoformat(item[0]),
            item[1],
            item[2],
            EventSource(item[3]),
            _at(item[4]),
            _at(item[5]),
            _uuid(item[6]),
            item[7],
            _uuid(item[8]),
            _uuid(item[9]),
            item[10],
            item[11],
            item[12],
            item[13],
            item[14],
            item[15],
        )

    def record(self) -> tuple[Any, ...]:
        """The row for asyncpg's COPY (properties as JSON text: the jsonb codec's input)."""
        return (
            self.day,
            self.id,
            self.name,
            self.source.value,
            self.occurred_at,
            self.received_at,
            self.user_id,
            self.anonymous_id,
            self.party_id,
            self.video_id,
            self.position_seconds,
            json.dumps(self.properties, separators=(",", ":")),
            self.ip,
            self.browser,
            self.os,
            self.device,
        )

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True, slots=True)
class Stored:
    accepted: int
    duplicates: int


# --- Redis: dedupe and append in one step --------------------------------------------------

# KEYS[1] the stream. ARGV: max entries, dedupe TTL (ms), dedupe key prefix, then pairs of
# (dedupe key suffix, encoded event). Returns the number of new events, or -1 when the stream
# is full (nothing claimed, nothing added). MAXLEN is a safety net far above the refusal
# threshold: entries are deleted once drained, so it never trims an undrained one.
_APPEND = """
local maxlen = tonumber(ARGV[1])
if redis.call('XLEN', KEYS[1]) >= maxlen then return -1 end
local fresh = {}
for i = 4, #ARGV, 2 do
  if redis.call('SET', ARGV[3] .. ARGV[i], '1', 'NX', 'PX', ARGV[2]) then
    fresh[#fresh + 1] = ARGV[i + 1]
  end
end
if #fresh > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen * 2, '*',
    'v', '1', 'e', '[' .. table.concat(fresh, ',') .. ']')
end
return #fresh
"""


def stream_key(state: AppState) -> str:
    return state.settings.redis_key_prefix + "analytics:events"


def _dedupe_prefix(state: AppState) -> str:
    return state.settings.redis_key_prefix + "analytics:seen:"


def dedupe_ttl_ms(state: AppState) -> int:
    """ANALYTICS_DEDUPE_HOURS, by default a bit longer than the oldest event accepted: a retry
    within it counts as a duplicate (after it, the table's key still stores it once)."""
    settings = state.settings
    hours = settings.analytics_dedupe_hours or settings.analytics_max_event_age_hours + 2
    return hours * 3600 * 1000


def _script(state: AppState, redis: Redis) -> Any:
    script = state.extras.get("analytics_append")
    if script is None:
        script = state.extras["analytics_append"] = redis.register_script(_APPEND)
    return script


async def _append(
    state: AppState, redis: Redis, rows: Sequence[EventRow], encoded: Sequence[str] | None
) -> Stored:
    args: list[Any] = [
        state.settings.analytics_stream_max_entries,
        dedupe_ttl_ms(state),
        _dedupe_prefix(state),
    ]
    for index, row in enumerate(rows):
        args.append(f"{row.day.isoformat()}:{row.id}")
        args.append(encoded[index] if encoded is not None else row.encode())
    fresh = int(await _script(state, redis)(keys=[stream_key(state)], args=args))
    if fresh < 0:
        raise RateLimited(
            BACKPRESSURE_RETRY_SECONDS, "Analytics is catching up. Send these events again soon."
        )
    return Stored(fresh, len(rows) - fresh)


async def store(
    state: AppState, rows: Sequence[EventRow], encoded: Sequence[str] | None = None
) -> Stored:
    """Make `rows` durable: the Redis stream, else (no Redis, or Redis unavailable) the
    database directly. Raises `RateLimited` when the stream is full. `encoded`: the rows'
    `encode()`, when the caller has it already."""
    if not rows:
        return Stored(0, 0)
    redis = state.redis
    breaker = state.redis_breaker
    if redis is not None and not (breaker is not None and breaker.is_open):
        try:
            return await _append(state, redis, rows, encoded)
        except UNAVAILABLE:
            log.warning("analytics: redis unavailable, %d events inserted directly", len(rows))
    return await insert_direct(state, rows)


# --- the database -------------------------------------------------------------------------


async def insert_direct(state: AppState, rows: Sequence[EventRow]) -> Stored:
    """One multi-row INSERT ... ON CONFLICT DO NOTHING; what it did not insert was there."""
    unique = list({(row.day, row.id): row for row in rows}.values())
    values = [row.values() for row in unique]
    for attempt in range(3):
        async with state.sessionmaker() as session:
            statement = (
                upsert_insert(session)(AnalyticsEvent)
                .values(values)
                .on_conflict_do_nothing()
                .returning(AnalyticsEvent.id)
            )
            try:
                inserted = len((await session.execute(statement)).all())
                await session.commit()
            except IntegrityError as exc:
                if not is_missing_partition(exc) or attempt == 2:
                    raise
                await session.rollback()
                async with state.engine.begin() as conn:
                    await ensure_partitions(conn, {row.day for row in unique})
                continue
        return Stored(inserted, len(rows) - inserted)
    raise AssertionError("unreachable")


_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS analytics_staging "
    "(LIKE analytics_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COLUMN_LIST = ", ".join(COLUMNS)
_MOVE = (  # constants only: the column names above
    f"INSERT INTO analytics_events ({_COLUMN_LIST}, ingested_at) "  # noqa: S608
    f"SELECT {_COLUMN_LIST}, clock_timestamp() FROM analytics_staging ON CONFLICT DO NOTHING"
)


async def copy_rows(state: AppState, rows: Sequence[EventRow]) -> int:
    """COPY `rows` into a staging table and move the new ones into `analytics_events`, in one
    transaction (PostgreSQL). Returns how many were new."""
    if state.engine.dialect.name != "postgresql":
        return (await insert_direct(state, rows)).accepted
    async with state.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        for attempt in range(3):
            try:
                async with pg.transaction():
                    await pg.execute(_STAGING)
                    await pg.copy_records_to_table(
                        "analytics_staging", records=[r.record() for r in rows], columns=COLUMNS
                    )
                    status = await pg.execute(_MOVE)
                return int(status.rsplit(" ", 1)[-1])
            except asyncpg.CheckViolationError as exc:
                if not is_missing_partition(exc) or attempt == 2:
                    raise
                await ensure_partitions(pg, {row.day for row in rows})
    raise AssertionError("unreachable")


# --- the drain (worker) -------------------------------------------------------------------


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _decode_entry(fields: dict[bytes, bytes]) -> list[EventRow]:
    if fields.get(b"v") != ENTRY_VERSION:
        raise ValueError(f"unknown analytics entry version {fields.get(b'v')!r}")
    return [EventRow.decode(item) for item in json.loads(fields[b"e"])]


async def _ensure_group(redis: Redis, stream: str) -> None:
    try:
        await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _next_entries(
    redis: Redis, stream: str, consumer: str, claiming: bool, idle_ms: int
) -> tuple[list[tuple[bytes, dict[bytes, bytes]]], bool]:
    """Abandoned entries first (XAUTOCLAIM), then new ones; (entries, still claiming)."""
    if claiming:
        answer = await redis.xautoclaim(
            stream, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=READ_ENTRIES
        )
        claimed = [entry for entry in answer[1] if entry and entry[1]]
        if claimed:
            return claimed, True
    read = await redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=READ_ENTRIES)
    return (list(read[0][1]) if read else []), False


# Errors that say an entry's data can never be stored (as opposed to the database being away):
# such an entry is moved to the dead-letter stream instead of blocking every drain after it.
_UNSTORABLE = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    UnicodeError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
)
DEAD_LETTER_MAX = 10_000


def dead_letter_key(state: AppState) -> str:
    return state.settings.redis_key_prefix + "analytics:dead"


async def _bury(
    state: AppState, redis: Redis, entry_id: bytes, fields: dict[bytes, bytes], error: BaseException
) -> None:
    log.error(
        "analytics: stream entry cannot be stored, moved to the dead-letter stream",
        exc_info=error,
        extra={"entry": entry_id.decode(errors="replace")},
    )
    dead = {**fields, b"error": f"{type(error).__name__}: {error}"[:500].encode()}
    await redis.xadd(dead_letter_key(state), dead, maxlen=DEAD_LETTER_MAX, approximate=True)  # type: ignore[arg-type]


async def _write_entries(
    state: AppState, redis: Redis, entries: list[tuple[bytes, dict[bytes, bytes]]]
) -> int:
    """COPY the entries' rows together; when the database refuses the batch's data, one entry
    at a time, burying those it refuses (a database that is away raises: retried later)."""
    decoded: list[tuple[bytes, dict[bytes, bytes], list[EventRow]]] = []
    for entry_id, fields in entries:
        try:
            decoded.append((entry_id, fields, _decode_entry(fields)))
        except _UNSTORABLE as exc:
            await _bury(state, redis, entry_id, fields, exc)
    rows = [row for _, _, some in decoded for row in some]
    if not rows:
        return 0
    try:
        return await copy_rows(state, rows)
    except _UNSTORABLE:
        log.warning("analytics: a batch was refused, copying its entries one at a time")
    written = 0
    for entry_id, fields, some in decoded:
        try:
            written += await copy_rows(state, some)
        except _UNSTORABLE as exc:
            await _bury(state, redis, entry_id, fields, exc)
    return written


async def drain(
    state: AppState, *, seconds: float = DRAIN_SECONDS, consumer: str | None = None
) -> int:
    """Move what the stream holds into the database until it is empty (or `seconds` passed).
    One drain at a time per process; returns the rows written."""
    redis = state.redis
    if redis is None:
        return 0
    lock: asyncio.Lock = state.extras.setdefault("analytics_drain_lock", asyncio.Lock())
    if lock.locked():
        return 0
    async with lock:
        stream, consumer = stream_key(state), consumer or consumer_name()
        idle_ms = int(state.settings.analytics_claim_idle_seconds * 1000)
        deadline = time.monotonic() + seconds
        written, claiming = 0, True
        await _ensure_group(redis, stream)
        while time.monotonic() < deadline:
            try:
                entries, claiming = await _next_entries(redis, stream, consumer, claiming, idle_ms)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):  # Redis restarted without the stream
                    raise
                await _ensure_group(redis, stream)
                continue
            if not entries:
                break
            written += await _write_entries(state, redis, entries)
            ids = [entry_id for entry_id, _ in entries]
            await redis.xack(stream, GROUP, *ids)
            await redis.xdel(stream, *ids)
        return written


async def drain_analytics_events(ctx: dict[str, Any]) -> None:
    """Periodic job (every second in the worker): the stream into `analytics_events`."""
    state: AppState = ctx["state"]
    written = await drain(state)
    if written:
        log.debug("analytics events drained", extra={"rows": written})


# --- the server's own events (watchparty.tracking's sink) ----------------------------------


def server_row(event: Tracked) -> EventRow | None:
    spec = CATALOG.get(event.name)
    if spec is None or event.name not in SERVER_NAMES:
        log.warning("analytics: unknown server event %r dropped", event.name)
        return None
    properties = {k: v for k, v in event.properties.items() if k in spec.properties}
    occurred = event.occurred_at
    return EventRow(
        occurred.date(),
        event.id,
        event.name,
        EventSource.SERVER,
        occurred,
        occurred,
        user_id=event.user_id,
        party_id=event.party_id,
        video_id=event.video_id,
        position_seconds=event.position_seconds,
        properties=properties,
    )


class ServerEventBuffer:
    """Server events of one process, written together every `SERVER_FLUSH_SECONDS`."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.rows: list[EventRow] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, rows: Iterable[EventRow]) -> None:
        for row in rows:
            if len(self.rows) >= SERVER_BUFFER_MAX:
                log.warning("analytics: server event buffer full, event dropped")
                break
            self.rows.append(row)
        if self.rows and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(SERVER_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        while self.rows:
            rows, self.rows = self.rows[:500], self.rows[500:]
            try:
                await store(self.state, rows)
            except Exception:
                log.warning("analytics: %d server events dropped", len(rows), exc_info=True)


async def server_sink(state: AppState, events: list[Tracked]) -> None:
    """`tracking.use_sink(server_sink)` (registry.py): never waits on Redis or the database."""
    if not state.settings.analytics_enabled:
        return
    buffer = state.extras.get("analytics_server_buffer")
    if buffer is None:
        buffer = state.extras["analytics_server_buffer"] = ServerEventBuffer(state)
    buffer.add(row for row in map(server_row, events) if row is not None)
