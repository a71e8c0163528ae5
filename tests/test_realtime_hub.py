"""The hub on both stacks: ordered fan-out, replay from a cursor, resync, overflow, outbox."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Api
from tests.test_realtime_support import (
    WAIT,
    Process,
    new_channel,
    seqs,
    stack,
    take,
)
from watchparty.db import unit_of_work
from watchparty.events import Event, record, register
from watchparty.realtime import (
    HubClosed,
    ResyncRequired,
    SubscriberOverflow,
    Subscription,
    append_event,
    publish_after_commit,
)
from watchparty.realtime.log import read_events


@pytest.fixture(params=["postgres", "embedded"])
async def proc(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> AsyncIterator[Process]:
    async with stack(request.param, pg_url, tmp_path) as p:
        yield p


async def test_every_subscriber_gets_every_event_in_order(proc: Process) -> None:
    channel = new_channel()
    async with AsyncExitStack() as exits:
        streams = [await exits.enter_async_context(proc.hub.subscribe(channel)) for _ in range(20)]
        assert {s.after for s in streams} == {0}

        async def consume(stream: Subscription) -> list[tuple[int | None, int]]:
            return [(d.seq, d.payload["n"]) for d in await take(stream, 30)]

        consumers = [asyncio.create_task(consume(s)) for s in streams]
        for n in range(30):
            await proc.append(channel, {"n": n})
        results = await asyncio.gather(*consumers)
    expected = [(n + 1, n) for n in range(30)]
    assert all(result == expected for result in results)
    assert proc.hub.channel_count == 0  # the last subscriber out closed the channel reader


async def test_payload_is_decoded_once_per_process(proc: Process) -> None:
    channel = new_channel()
    async with proc.hub.subscribe(channel) as one, proc.hub.subscribe(channel) as two:
        await proc.append(channel, {"shared": [1, 2]})
        (a,), (b,) = await take(one, 1), await take(two, 1)
    assert a.payload == {"shared": [1, 2]}
    assert a.payload is b.payload


async def test_from_now_starts_at_the_current_seq(proc: Process) -> None:
    channel = new_channel()
    for n in range(3):
        await proc.append(channel, {"n": n})
    async with proc.hub.subscribe(channel) as stream:
        assert stream.after == 3 == await proc.hub.current_seq(channel)
        await proc.append(channel, {"n": 3})
        await proc.append(channel, {"n": 4})
        got = await take(stream, 2)
    assert [(d.seq, d.payload) for d in got] == [(4, {"n": 3}), (5, {"n": 4})]
    assert stream.cursor == 5


async def test_replay_from_a_cursor_then_live_without_gap_or_duplicate(proc: Process) -> None:
    channel = new_channel()
    async with proc.hub.subscribe(channel) as watcher:  # keeps the channel reader ahead
        for n in range(10):
            await proc.append(channel, {"n": n})
        assert seqs(await take(watcher, 10)) == list(range(1, 11))
        async with proc.hub.subscribe(channel, after=4) as resumed:
            assert resumed.after == 4
            missed = await take(resumed, 6)
            await proc.append(channel, {"n": 10})
            live = await take(resumed, 1)
        async with proc.hub.subscribe(channel, after=11) as current:
            await proc.append(channel, {"n": 11})
            (latest,) = await take(current, 1)
    assert [(d.seq, d.payload["n"]) for d in missed] == [(s, s - 1) for s in range(5, 11)]
    assert [(d.seq, d.payload["n"]) for d in live] == [(11, 10)]
    assert latest.seq == 12


async def test_replay_longer_than_the_queue_pages_through_the_log(
    pg_url: str, tmp_path: Path
) -> None:
    async with stack("embedded", pg_url, tmp_path, queue_size=8) as proc:
        channel = new_channel()
        for n in range(50):
            await proc.append(channel, {"n": n})
        async with proc.hub.subscribe(channel, after=0) as stream:
            got = await take(stream, 50)
            await proc.append(channel, {"n": 50})
            got += await take(stream, 1)
    assert seqs(got) == list(range(1, 52))


async def test_a_cursor_past_retention_requires_a_resync(pg_url: str, tmp_path: Path) -> None:
    from watchparty.realtime import Retention

    for mode in ("postgres", "embedded"):
        async with stack(mode, pg_url, tmp_path / mode, retention=Retention(10, 600)) as proc:
            channel = new_channel()
            for n in range(15):
                await proc.append(channel, {"n": n})  # writers trim as they go (every event here)
            async with proc.hub.subscribe(channel, after=5) as stream:
                assert seqs(await take(stream, 10)) == list(range(6, 16))
            for stale in (4, 0, 16, -1):
                with pytest.raises(ResyncRequired) as info:
                    async with proc.hub.subscribe(channel, after=stale):
                        pass
                assert info.value.cursor == stale
            async with proc.hub.subscribe(channel, after=15) as stream:
                await proc.append(channel, {"n": 15})
                assert seqs(await take(stream, 1)) == [16]
            assert proc.hub.channel_count == 0


async def test_events_trimmed_while_catching_up_end_in_resync(proc: Process) -> None:
    from datetime import timedelta

    from watchparty.kit.time import utcnow
    from watchparty.realtime import Retention, trim_event_log

    channel = new_channel()
    for n in range(5):
        await proc.append(channel, {"n": n})
    async with proc.hub.subscribe(channel, after=0) as stream:  # valid when entered
        async with unit_of_work(proc.sessionmaker) as uow:
            await trim_event_log(
                uow.session, Retention(), channel=channel, now=utcnow() + timedelta(hours=1)
            )
        with pytest.raises(ResyncRequired):
            await asyncio.wait_for(anext(stream), WAIT)


async def test_a_rolled_back_change_publishes_nothing(proc: Process) -> None:
    channel = new_channel()
    async with (
        proc.broadcast.subscribe(proc.hub.topic(channel)) as raw,
        proc.hub.subscribe(channel) as stream,
    ):
        with pytest.raises(RuntimeError):
            async with unit_of_work(proc.sessionmaker) as uow:
                record = await append_event(uow.session, channel, {"doomed": True})
                publish_after_commit(uow, proc.hub, record)
                raise RuntimeError("the change failed")
        assert await proc.hub.publish_ephemeral(channel, {"marker": True})
        await proc.append(channel, {"kept": True})
        got = await take(stream, 2)
        first = await asyncio.wait_for(raw.get(), WAIT)
        second = await asyncio.wait_for(raw.get(), WAIT)
    assert [(d.seq, d.payload) for d in got if d.seq is not None] == [(1, {"kept": True})]
    assert [d.payload for d in got if d.seq is None] == [{"marker": True}]
    assert first.message.startswith("e:")
    assert second.message == "n:1"


async def test_ephemeral_events_are_live_only(proc: Process) -> None:
    channel = new_channel()
    async with proc.hub.subscribe(channel) as stream:
        await proc.append(channel, {"n": 0})
        assert await proc.hub.publish_ephemeral(channel, {"typing": "ada"})
        await proc.append(channel, {"n": 1})
        got = await take(stream, 3)
    # Durable events keep their order; an ephemeral one is not ordered against them.
    assert [(d.seq, d.payload) for d in got if d.seq is not None] == [(1, {"n": 0}), (2, {"n": 1})]
    assert [(d.seq, d.payload) for d in got if d.seq is None] == [(None, {"typing": "ada"})]
    assert stream.cursor == 2
    assert await proc.hub.current_seq(channel) == 2  # the ephemeral event took no seq
    async with proc.hub.subscribe(channel, after=0) as replay:
        assert [d.payload for d in await take(replay, 2)] == [{"n": 0}, {"n": 1}]


async def test_a_slow_subscriber_overflows_alone(pg_url: str, tmp_path: Path) -> None:
    for mode in ("postgres", "embedded"):
        async with stack(mode, pg_url, tmp_path / mode, queue_size=8) as proc:
            channel = new_channel()
            async with proc.hub.subscribe(channel) as slow, proc.hub.subscribe(channel) as fast:
                await proc.append(channel, {"n": 0})
                assert seqs(await take(slow, 1)) == [1]  # then it stops reading
                consumer = asyncio.create_task(take(fast, 20))
                for n in range(1, 20):
                    await proc.append(channel, {"n": n})
                assert seqs(await consumer) == list(range(1, 21))
                assert slow.queued == 0  # its queue was dropped, not kept growing
                assert proc.hub.live_count(channel) == 1
                with pytest.raises(SubscriberOverflow) as info:
                    await anext(slow)
                assert info.value.cursor == 1
                # The client resumes from its cursor and misses nothing.
                async with proc.hub.subscribe(channel, after=info.value.cursor) as resumed:
                    assert seqs(await take(resumed, 19)) == list(range(2, 21))


async def test_closing_the_hub_ends_streams(pg_url: str, tmp_path: Path) -> None:
    async with stack("embedded", pg_url, tmp_path) as proc:
        channel = new_channel()
        async with proc.hub.subscribe(channel) as stream:
            waiting = asyncio.create_task(anext(stream))
            await asyncio.sleep(0)
            await proc.hub.close()
            with pytest.raises(HubClosed):
                await asyncio.wait_for(waiting, WAIT)
        with pytest.raises(HubClosed):
            async with proc.hub.subscribe(channel):
                pass


async def test_safety_poll_delivers_when_notifications_are_lost(
    pg_url: str, tmp_path: Path
) -> None:
    """Process B shares the database with A but never hears A's notifications."""
    from tests.test_realtime_support import process, sqlite_url

    url = await sqlite_url(tmp_path)
    async with (
        process(url, "memory://", topic_prefix="a:") as a,
        process(url, "memory://", topic_prefix="b:", poll_seconds=0.05) as b,
    ):
        channel = new_channel()
        async with b.hub.subscribe(channel) as stream:
            for n in range(3):
                await a.append(channel, {"n": n})
            assert seqs(await take(stream, 3)) == [1, 2, 3]


async def test_idle_subscribers_hold_little_memory(pg_url: str, tmp_path: Path) -> None:
    async with stack("embedded", pg_url, tmp_path) as proc:
        channel = new_channel()
        async with proc.hub.subscribe(channel):  # the channel reader exists already
            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot()
                async with AsyncExitStack() as exits:
                    for _ in range(200):
                        await exits.enter_async_context(proc.hub.subscribe(channel))
                    after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown / 200 < 2048, f"{grown / 200:.0f} bytes per idle subscriber"


@register("test.hello")
@dataclass(frozen=True, slots=True)
class Hello(Event):
    text: str


async def test_the_app_state_has_a_working_hub(any_api: Api) -> None:
    """The app's hub hands subscribers typed events, decoded from the stored envelope."""
    state = any_api.state
    channel = new_channel()
    async with state.hub.subscribe(channel) as stream:
        async with state.unit_of_work() as uow:
            await record(uow, channel, Hello("world"))
        (delivery,) = await take(stream, 1)
    assert (delivery.seq, delivery.payload) == (1, Hello("world"))
    async with state.sessionmaker() as session:
        (stored,) = await read_events(session, channel, after=0, limit=10)
    assert json.loads(stored.payload) == {
        "v": 2,
        "kind": "test.hello",
        "version": 1,
        "data": {"text": "world"},
    }


async def test_the_trim_job_applies_retention(pg_url: str, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from watchparty.realtime import Retention
    from watchparty.realtime.tasks import trim_event_logs

    # count=100 trims opportunistically only every 10th event: 105 events leave 5 extra rows.
    async with stack("embedded", pg_url, tmp_path, retention=Retention(100, 600)) as proc:
        channel = new_channel()
        for n in range(105):
            await proc.append(channel, {"n": n})
        assert await trim_event_logs({"state": SimpleNamespace(hub=proc.hub)}) == 5
        with pytest.raises(ResyncRequired):
            async with proc.hub.subscribe(channel, after=4):
                pass
        async with proc.hub.subscribe(channel, after=5) as stream:
            assert seqs(await take(stream, 100)) == list(range(6, 106))


async def test_joining_at_any_moment_from_any_cursor_is_exact(proc: Process) -> None:
    """Subscribers join while four writers append, each from a different retained cursor (some
    behind the channel reader, some level with it, some ahead): each gets exactly the events
    after its cursor, in order, then live, with no gap and no duplicate."""
    import random

    channel = new_channel()
    rng = random.Random(7)
    total = 120

    async def writer(who: int) -> None:
        for n in range(total // 4):
            await proc.append(channel, {"who": who, "n": n})

    async def joiner() -> tuple[int, list[int | None]]:
        head = await proc.hub.current_seq(channel)
        after = rng.choice([0, head // 2, max(head - 1, 0), head])
        async with proc.hub.subscribe(channel, after=after) as stream:
            return after, seqs(await take(stream, total - after))

    async with proc.hub.subscribe(channel) as anchor:  # a channel reader that is always running
        writers = [asyncio.create_task(writer(who)) for who in range(4)]
        joiners = []
        while len(joiners) < 30 and not all(w.done() for w in writers):
            joiners.append(asyncio.create_task(joiner()))
            await asyncio.sleep(0.003)  # pacing only: spread the joins over the writes
        await asyncio.gather(*writers)
        results = await asyncio.gather(*joiners)
        assert seqs(await take(anchor, total)) == list(range(1, total + 1))
    assert len(results) > 10
    for after, got in results:
        assert got == list(range(after + 1, total + 1))


async def test_a_batch_append_is_delivered_and_trimmed_as_one_by_one(
    pg_url: str, tmp_path: Path
) -> None:
    """`append_events` + `publish_many_after_commit`: one notification per channel after the
    commit, every event delivered in order, and opportunistic trimming whenever the batch
    crossed a multiple of `trim_every` (count=30: every 3rd seq)."""
    from watchparty.realtime import Retention, append_events, publish_many_after_commit

    for mode in ("postgres", "embedded"):
        async with stack(mode, pg_url, tmp_path / mode, retention=Retention(30, 600)) as proc:
            a, b, c = new_channel(), new_channel(), new_channel()
            async with AsyncExitStack() as exits:
                on_a = await exits.enter_async_context(proc.hub.subscribe(a))
                on_b = await exits.enter_async_context(proc.hub.subscribe(b))
                async with unit_of_work(proc.sessionmaker) as uow:
                    entries = [(a, {"n": 0}), (b, {"n": 1}), (a, {"n": 2}), (a, {"n": 3})]
                    entries += [(c, {"n": n}) for n in range(35)]
                    records = await append_events(uow.session, entries)
                    publish_many_after_commit(uow, proc.hub, records)
                got_a = await take(on_a, 3)
                assert [(d.seq, d.payload["n"]) for d in got_a] == [(1, 0), (2, 2), (3, 3)]
                assert [(d.seq, d.payload["n"]) for d in await take(on_b, 1)] == [(1, 1)]
            # c got seqs 1..35 at once: crossing multiples of 3 trimmed it to the newest 30.
            with pytest.raises(ResyncRequired):
                async with proc.hub.subscribe(c, after=4):
                    pass
            async with proc.hub.subscribe(c, after=5) as stream:
                assert seqs(await take(stream, 30)) == list(range(6, 36))
