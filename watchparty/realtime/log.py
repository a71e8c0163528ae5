"""The durable half of realtime: append events inside the caller's transaction, read, trim.
`append_events` writes many events to many channels in a constant number of statements.

Sequence numbers come from one upsert on `event_channels` in the same transaction as the change
and the event row (a transactional outbox). The row lock it takes is held until commit, so per
channel the numbers are gapless (a rollback returns its number) and commit order equals seq
order: a reader that sees event N also sees every event before it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, exists, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from watchparty.kit.time import utcnow
from watchparty.realtime.models import CHANNEL_MAX_LENGTH, EventChannel, EventLogEntry

channels_table = cast(Table, EventChannel.__table__)
log_table = cast(Table, EventLogEntry.__table__)

Executor = AsyncSession | AsyncConnection


@dataclass(frozen=True, slots=True)
class EventRecord:
    """What `append_event` wrote; hand it to `publish_after_commit`."""

    channel: str
    seq: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    payload: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Retention:
    """An event is kept while it is among the newest `count` of its channel AND younger than
    `seconds`; whichever limit it crosses first trims it. Replay past that is a resync."""

    count: int = 1000
    seconds: int = 600

    @property
    def trim_every(self) -> int:
        """Trim a channel opportunistically every this many events (a tenth of `count`)."""
        return max(1, self.count // 10)


def check_channel(channel: str) -> None:
    if not channel or len(channel) > CHANNEL_MAX_LENGTH:
        raise ValueError(f"channel names are 1..{CHANNEL_MAX_LENGTH} characters")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """Strict JSON: a payload that cannot round-trip fails the mutation, not the subscribers."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


async def append_event(
    session: AsyncSession, channel: str, payload: Mapping[str, Any]
) -> EventRecord:
    """Append an event to `channel` inside the caller's unit of work (it never commits).

    The event exists only if the caller's transaction commits; register the notification with
    `publish_after_commit(uow, hub, record)`.
    """
    check_channel(channel)
    body = encode_payload(payload)
    seq = await _next_seq(session, channel)
    created_at = utcnow()
    await session.execute(
        insert(log_table).values(channel=channel, seq=seq, payload=body, created_at=created_at)
    )
    return EventRecord(channel, seq, created_at)


APPEND_CHUNK = 2000  # rows per statement: 4 parameters each, far below either driver's limit


async def append_events(
    session: AsyncSession, entries: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[EventRecord]:
    """Append many events to many channels inside the caller's unit of work, in a constant
    number of statements: one upsert reserving each channel's block of seqs, one multi-row
    INSERT of the events (per `APPEND_CHUNK` channels or events).

    The same contract as `append_event` once per entry, in order: per channel the entries get
    consecutive seqs in the order given (gapless: the block is reserved under the channel row's
    lock, held until commit, so commit order is still seq order). Channels are reserved in name
    order, so two batches touching the same channels lock them in the same order. Returns one
    record per entry, in the order given.
    """
    if not entries:
        return []
    bodies: list[tuple[str, str]] = []
    wanted: dict[str, int] = {}
    for channel, payload in entries:
        check_channel(channel)
        bodies.append((channel, encode_payload(payload)))
        wanted[channel] = wanted.get(channel, 0) + 1
    names = sorted(wanted)
    heads: dict[str, int] = {}
    for start in range(0, len(names), APPEND_CHUNK):
        chunk = names[start : start + APPEND_CHUNK]
        heads.update(await _reserve(session, [(name, wanted[name]) for name in chunk]))
    # Each channel's block is (head - count, head]: hand it out in the order given.
    next_seq = {name: heads[name] - wanted[name] + 1 for name in names}
    created_at = utcnow()
    records: list[EventRecord] = []
    rows: list[dict[str, Any]] = []
    for channel, body in bodies:
        seq = next_seq[channel]
        next_seq[channel] = seq + 1
        records.append(EventRecord(channel, seq, created_at))
        rows.append({"channel": channel, "seq": seq, "payload": body, "created_at": created_at})
    for start in range(0, len(rows), APPEND_CHUNK):
        await session.execute(insert(log_table).values(rows[start : start + APPEND_CHUNK]))
    return records


async def _reserve(session: AsyncSession, counts: list[tuple[str, int]]) -> dict[str, int]:
    """One statement: add each count to its channel's counter (created at the count on first
    use); the new heads."""
    dialect = session.get_bind().dialect.name
    values = [{"channel": name, "last_seq": count} for name, count in counts]
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(channels_table).values(values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(channels_table).values(values)
    else:  # pragma: no cover - we run on PostgreSQL and SQLite only
        raise NotImplementedError(f"event log on {dialect}")
    stmt = stmt.on_conflict_do_update(
        index_elements=[channels_table.c.channel],
        set_={"last_seq": channels_table.c.last_seq + stmt.excluded.last_seq},
    )
    result = await session.execute(
        stmt.returning(channels_table.c.channel, channels_table.c.last_seq)
    )
    heads = {str(name): int(seq) for name, seq in result.all()}
    if len(heads) != len(counts):  # pragma: no cover - every row is inserted or updated
        raise RuntimeError("the event log did not reserve every channel")
    return heads


async def _next_seq(session: AsyncSession, channel: str) -> int:
    """One statement: insert the counter at 1 on first use, else increment it (race-safe)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt = postgresql.insert(channels_table).values(channel=channel, last_seq=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[channels_table.c.channel],
            set_={"last_seq": channels_table.c.last_seq + 1},
        )
        result = await session.execute(stmt.returning(channels_table.c.last_seq))
    elif dialect == "sqlite":
        lite = sqlite.insert(channels_table).values(channel=channel, last_seq=1)
        lite = lite.on_conflict_do_update(
            index_elements=[channels_table.c.channel],
            set_={"last_seq": channels_table.c.last_seq + 1},
        )
        result = await session.execute(lite.returning(channels_table.c.last_seq))
    else:  # pragma: no cover - we run on PostgreSQL and SQLite only
        raise NotImplementedError(f"event log on {dialect}")
    return int(result.scalar_one())


async def read_events(
    executor: Executor, channel: str, *, after: int, limit: int
) -> list[StoredEvent]:
    """Retained events of `channel` with seq > `after`, oldest first, at most `limit`."""
    stmt = (
        select(log_table.c.seq, log_table.c.payload, log_table.c.created_at)
        .where(log_table.c.channel == channel, log_table.c.seq > after)
        .order_by(log_table.c.seq)
        .limit(limit)
    )
    rows = (await executor.execute(stmt)).all()
    return [StoredEvent(int(seq), payload, created_at) for seq, payload, created_at in rows]


async def channel_head(executor: Executor, channel: str) -> int:
    """The last seq handed out on `channel` (0 before its first event)."""
    stmt = select(channels_table.c.last_seq).where(channels_table.c.channel == channel)
    head = (await executor.execute(stmt)).scalar_one_or_none()
    return int(head or 0)


async def channel_bounds(executor: Executor, channel: str) -> tuple[int, int | None]:
    """(last seq handed out, oldest retained seq or None) in one round trip."""
    head = select(channels_table.c.last_seq).where(channels_table.c.channel == channel)
    first = select(func.min(log_table.c.seq)).where(log_table.c.channel == channel)
    row = (await executor.execute(select(head.scalar_subquery(), first.scalar_subquery()))).one()
    return int(row[0] or 0), (None if row[1] is None else int(row[1]))


async def channel_heads(executor: Executor, channels: Iterable[str]) -> dict[str, int]:
    """Last seq of each listed channel that has one (the hub's safety poll: one query)."""
    names = list(channels)
    heads: dict[str, int] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        stmt = select(channels_table.c.channel, channels_table.c.last_seq).where(
            channels_table.c.channel.in_(chunk)
        )
        heads.update({name: int(seq) for name, seq in (await executor.execute(stmt)).all()})
    return heads


async def trim_event_log(
    executor: Executor,
    retention: Retention,
    *,
    channel: str | None = None,
    now: datetime | None = None,
) -> int:
    """Delete events past `retention` (one channel, or all); returns how many were deleted.

    Always deletes a prefix of each channel's log (seq <= cutoff), even when the clocks of the
    processes that wrote `created_at` disagree, so the retained events stay contiguous. Runs in
    the executor's transaction; the caller commits (the hub and the cron job do).
    """
    threshold = (now or utcnow()) - timedelta(seconds=retention.seconds)
    by_time = (
        select(log_table.c.channel, func.max(log_table.c.seq))
        .where(log_table.c.created_at < threshold)
        .group_by(log_table.c.channel)
    )
    count_cutoff = channels_table.c.last_seq - retention.count
    by_count = select(channels_table.c.channel, count_cutoff).where(
        channels_table.c.last_seq > retention.count,
        exists().where(
            log_table.c.channel == channels_table.c.channel, log_table.c.seq <= count_cutoff
        ),
    )
    if channel is not None:
        by_time = by_time.where(log_table.c.channel == channel)
        by_count = by_count.where(channels_table.c.channel == channel)
    cutoffs: dict[str, int] = {}
    for stmt in (by_time, by_count):
        for name, cutoff in (await executor.execute(stmt)).all():
            cutoffs[name] = max(cutoffs.get(name, 0), int(cutoff))
    deleted = 0
    for name, cutoff in cutoffs.items():
        result = await executor.execute(
            delete(log_table).where(log_table.c.channel == name, log_table.c.seq <= cutoff)
        )
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
