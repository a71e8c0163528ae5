"""The event log itself: gapless per-channel seqs, the outbox contract, retention trimming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.test_realtime_support import new_channel, sqlite_url
from watchparty.db import create_engine, create_sessionmaker, unit_of_work
from watchparty.kit.time import utcnow
from watchparty.models import metadata
from watchparty.realtime import Retention, append_event, append_events, trim_event_log
from watchparty.realtime.log import channel_bounds, channel_head, log_table, read_events


@pytest.fixture(params=["postgres", "embedded"])
async def engine(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    url = pg_url if request.param == "postgres" else await sqlite_url(tmp_path)
    engine = create_engine(url, pool_size=25)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


async def _append(sessions: async_sessionmaker[AsyncSession], channel: str, n: int) -> list[int]:
    seqs = []
    for i in range(n):
        async with unit_of_work(sessions) as uow:
            seqs.append((await append_event(uow.session, channel, {"i": i})).seq)
    return seqs


async def _stored(engine: AsyncEngine, channel: str) -> list[int]:
    async with engine.connect() as connection:
        return [e.seq for e in await read_events(connection, channel, after=0, limit=10_000)]


async def test_seqs_are_gapless_per_channel_and_independent(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, b = new_channel(), new_channel()
    assert await _append(sessions, a, 3) == [1, 2, 3]
    assert await _append(sessions, b, 2) == [1, 2]
    assert await _append(sessions, a, 1) == [4]
    async with engine.connect() as connection:
        events = await read_events(connection, a, after=1, limit=10)
        assert [(e.seq, e.payload) for e in events] == [
            (2, '{"i":1}'),
            (3, '{"i":2}'),
            (4, '{"i":0}'),
        ]
        assert await channel_head(connection, a) == 4
        assert await channel_head(connection, new_channel()) == 0


async def test_an_event_commits_and_rolls_back_with_its_unit_of_work(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    channel = new_channel()
    await _append(sessions, channel, 2)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as uow:
            record = await append_event(uow.session, channel, {"doomed": True})
            assert record.seq == 3
            raise RuntimeError("the change failed")
    # The rolled-back event is gone and its seq is handed out again: no gap for readers.
    assert await _stored(engine, channel) == [1, 2]
    assert await _append(sessions, channel, 1) == [3]
    async with engine.connect() as connection:
        assert (await read_events(connection, channel, after=2, limit=5))[0].payload == '{"i":0}'


async def test_a_unit_of_work_without_the_app_state_refuses_services_clearly(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Services read settings, limiter and jobs from `uow.app`: a unit opened without the
    process's state says how to open one, rather than failing on a None somewhere later."""
    async with unit_of_work(sessions) as uow:
        with pytest.raises(RuntimeError, match=r"open it with state\.unit_of_work\(\)"):
            _ = uow.app


async def test_concurrent_writers_get_distinct_contiguous_seqs(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Twenty transactions race on a channel that does not exist yet (first use included)."""
    channel = new_channel()

    async def write(i: int) -> int:
        async with unit_of_work(sessions) as uow:
            record = await append_event(uow.session, channel, {"writer": i})
            await asyncio.sleep(0)  # hold the transaction open across a scheduling point
            return record.seq

    got = await asyncio.gather(*(write(i) for i in range(20)))
    assert sorted(got) == list(range(1, 21))
    assert await _stored(engine, channel) == list(range(1, 21))


async def test_payloads_must_be_strict_json(sessions: async_sessionmaker[AsyncSession]) -> None:
    channel = new_channel()
    async with unit_of_work(sessions) as uow:
        with pytest.raises(TypeError):
            await append_event(uow.session, channel, {"when": utcnow()})
        with pytest.raises(ValueError, match="Out of range float"):
            await append_event(uow.session, channel, {"x": float("nan")})
        with pytest.raises(ValueError, match="channel names"):
            await append_event(uow.session, "x" * 201, {})
        with pytest.raises(ValueError, match="channel names"):
            await append_event(uow.session, "", {})
    assert await _append(sessions, channel, 1) == [1]


async def test_trim_keeps_the_newest_count_per_channel(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    busy, quiet = new_channel(), new_channel()
    await _append(sessions, busy, 25)
    await _append(sessions, quiet, 5)
    async with unit_of_work(sessions) as uow:
        deleted = await trim_event_log(uow.session, Retention(count=10, seconds=600))
    # Other tests' channels share the PostgreSQL database; ours lost exactly 15 rows.
    assert deleted >= 15
    assert await _stored(engine, busy) == list(range(16, 26))
    assert await _stored(engine, quiet) == [1, 2, 3, 4, 5]
    async with engine.connect() as connection:
        assert await channel_bounds(connection, busy) == (25, 16)
    # Idempotent: a second run (a job may run twice) deletes nothing more of ours.
    async with unit_of_work(sessions) as uow:
        await trim_event_log(uow.session, Retention(count=10, seconds=600), channel=busy)
    assert await _stored(engine, busy) == list(range(16, 26))


async def test_trim_by_age_deletes_a_prefix_and_keeps_the_head(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    channel, other = new_channel(), new_channel()
    await _append(sessions, other, 3)
    start = utcnow()
    # Written by processes whose clocks disagree: seq 2 claims to be older than seq 1.
    async with unit_of_work(sessions) as uow:
        for seq in (1, 2, 3):
            await append_event(uow.session, channel, {"seq": seq})
        for seq, offset in ((1, 5), (2, 0), (3, 1200)):
            await uow.session.execute(
                log_table.update()
                .where(log_table.c.channel == channel, log_table.c.seq == seq)
                .values(created_at=start + timedelta(seconds=offset))
            )
    retention = Retention(count=1000, seconds=600)
    async with unit_of_work(sessions) as uow:
        # Threshold = start + 1 s: only seq 2 is old by its own clock, seq 1 goes with it.
        await trim_event_log(
            uow.session, retention, channel=channel, now=start + timedelta(seconds=601)
        )
    assert await _stored(engine, channel) == [3]
    assert await _stored(engine, other) == [1, 2, 3]
    async with unit_of_work(sessions) as uow:
        await trim_event_log(uow.session, retention, now=utcnow() + timedelta(hours=1))
    assert await _stored(engine, channel) == []
    assert await _stored(engine, other) == []
    async with engine.connect() as connection:
        assert await channel_bounds(connection, channel) == (3, None)
    assert await _append(sessions, channel, 1) == [4]


async def test_migration_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:

        def diff(sync_connection: object) -> list[object]:
            context = MigrationContext.configure(sync_connection, opts={"compare_type": True})  # type: ignore[arg-type]
            return [d for d in compare_metadata(context, metadata) if "event_" in repr(d)]

        assert await connection.run_sync(diff) == []


async def test_duplicate_seq_is_rejected(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The primary key (channel, seq) is the last line of defence against a double allocation."""
    channel = new_channel()
    await _append(sessions, channel, 1)
    with pytest.raises(IntegrityError):
        async with unit_of_work(sessions) as uow:
            await uow.session.execute(
                insert(log_table).values(channel=channel, seq=1, payload="{}", created_at=utcnow())
            )


async def test_a_batch_appends_to_many_channels_as_one_by_one_would(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, b, c = new_channel(), new_channel(), new_channel()
    await _append(sessions, a, 2)  # a exists at 2; b and c are new
    entries = [(b, {"n": 0}), (a, {"n": 1}), (b, {"n": 2}), (c, {"n": 3}), (a, {"n": 4})]
    async with unit_of_work(sessions) as uow:
        records = await append_events(uow.session, entries)
    assert [(r.channel, r.seq) for r in records] == [(b, 1), (a, 3), (b, 2), (c, 1), (a, 4)]
    assert len({r.created_at for r in records}) == 1
    async with engine.connect() as connection:
        assert [(e.seq, e.payload) for e in await read_events(connection, a, after=0, limit=9)] == [
            (1, '{"i":0}'),
            (2, '{"i":1}'),
            (3, '{"n":1}'),
            (4, '{"n":4}'),
        ]
        assert [e.payload for e in await read_events(connection, b, after=0, limit=9)] == [
            '{"n":0}',
            '{"n":2}',
        ]
        assert (await channel_head(connection, a), await channel_head(connection, c)) == (4, 1)
    # One by one afterwards continues each channel where the batch ended.
    assert await _append(sessions, b, 1) == [3]
    async with unit_of_work(sessions) as uow:
        assert await append_events(uow.session, []) == []
        with pytest.raises(ValueError):
            await append_events(uow.session, [(a, {"bad": float("nan")})])


async def test_a_rolled_back_batch_leaves_no_gap(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a, b = new_channel(), new_channel()
    await _append(sessions, a, 1)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as uow:
            await append_events(uow.session, [(a, {"x": 1}), (b, {"x": 2}), (a, {"x": 3})])
            raise RuntimeError("the change failed")
    assert await _stored(engine, a) == [1]
    assert await _stored(engine, b) == []
    async with unit_of_work(sessions) as uow:
        records = await append_events(uow.session, [(a, {"y": 1}), (b, {"y": 2})])
    assert [r.seq for r in records] == [2, 1]


async def test_concurrent_batches_and_single_appends_stay_gapless(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Ten batches over the same channels in different orders race with single appends: no
    deadlock (channels are reserved in name order), every channel's seqs contiguous, and each
    batch's events of one channel consecutive and in the order given."""
    channels = [new_channel() for _ in range(6)]

    async def batch(i: int) -> list[tuple[str, int]]:
        order = channels[i % 6 :] + channels[: i % 6]
        entries = [(ch, {"batch": i, "k": k}) for k in range(2) for ch in order]
        async with unit_of_work(sessions) as uow:
            records = await append_events(uow.session, entries)
            await asyncio.sleep(0)  # hold the locks across a scheduling point
        return [(r.channel, r.seq) for r in records]

    async def single(i: int) -> None:
        async with unit_of_work(sessions) as uow:
            await append_event(uow.session, channels[i % 6], {"single": i})

    results = await asyncio.gather(*(batch(i) for i in range(10)), *(single(i) for i in range(12)))
    for channel in channels:
        assert await _stored(engine, channel) == list(range(1, 10 * 2 + 2 + 1))
    for got in results[:10]:
        assert got is not None
        for channel in channels:
            first, second = [seq for name, seq in got if name == channel]
            assert second == first + 1
