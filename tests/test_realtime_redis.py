"""Several processes over real PostgreSQL and Redis: shared order, one read per notification,
and streams that survive a Redis restart (on a private redis-server, never the shared one)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from broadcaster import Broadcast
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event

from tests.redis_server import RedisServer
from tests.support import REDIS_URL, free_port
from tests.test_realtime_support import WAIT, Process, new_channel, process, seqs, take
from watchparty.realtime import ResilientRedisBackend, Subscription, create_broadcast


def backend_of(p: Process) -> ResilientRedisBackend:
    backend = p.broadcast._backend
    assert isinstance(backend, ResilientRedisBackend)
    return backend


async def test_redis_urls_get_the_resilient_backend() -> None:
    assert isinstance(create_broadcast(REDIS_URL)._backend, ResilientRedisBackend)
    assert not isinstance(create_broadcast("memory://")._backend, ResilientRedisBackend)


async def test_two_processes_see_the_same_events_in_the_same_order(pg_url: str) -> None:
    topic_prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    channel = new_channel()
    async with (
        process(pg_url, REDIS_URL, topic_prefix=topic_prefix) as a,
        process(pg_url, REDIS_URL, topic_prefix=topic_prefix) as b,
        AsyncExitStack() as exits,
    ):
        streams = [
            await exits.enter_async_context(p.hub.subscribe(channel)) for p in (a, b, a, b, b)
        ]
        consumers = [asyncio.create_task(take(s, 40)) for s in streams]

        async def write(p: Process, who: str) -> None:
            for n in range(20):
                await p.append(channel, {"who": who, "n": n})

        await asyncio.gather(write(a, "a"), write(b, "b"))
        received = await asyncio.gather(*consumers)
    results = [[(d.seq, d.payload["who"], d.payload["n"]) for d in r] for r in received]
    first = results[0]
    assert [seq for seq, _, _ in first] == list(range(1, 41))
    assert sorted((who, n) for _, who, n in first) == sorted(
        [("a", n) for n in range(20)] + [("b", n) for n in range(20)]
    )
    assert all(result == first for result in results)


async def test_one_log_read_per_notification_per_process(pg_url: str) -> None:
    """Fifty subscribers in process B cost one database read per event, not fifty."""
    topic_prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    channel = new_channel()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with (
        process(pg_url, REDIS_URL, topic_prefix=topic_prefix) as a,
        process(pg_url, REDIS_URL, topic_prefix=topic_prefix) as b,
        AsyncExitStack() as exits,
    ):
        streams: list[Subscription] = [
            await exits.enter_async_context(b.hub.subscribe(channel)) for _ in range(50)
        ]
        event.listen(b.engine.sync_engine, "before_cursor_execute", count)
        try:
            for n in range(10):
                await a.append(channel, {"n": n})
                got = await asyncio.gather(*(take(s, 1) for s in streams))
                assert {d.seq for (d,) in got} == {n + 1}
        finally:
            event.remove(b.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 10, statements
    assert all("FROM event_log" in s for s in statements)


async def test_backend_resubscribes_after_a_redis_restart(redis_server: RedisServer) -> None:
    backend = ResilientRedisBackend(redis_server.url)
    async with Broadcast(backend=backend) as broadcast, broadcast.subscribe("ch") as sub:
        await broadcast.publish("ch", "before")
        assert (await asyncio.wait_for(sub.get(), WAIT)).message == "before"
        await redis_server.stop()
        with pytest.raises(RedisConnectionError):
            await broadcast.publish("ch", "lost")
        await redis_server.start()
        # After resubscribing, the channel hears an empty message: "you may have missed some".
        assert (await asyncio.wait_for(sub.get(), WAIT)).message == ""
        await broadcast.publish("ch", "after")
        assert (await asyncio.wait_for(sub.get(), WAIT)).message == "after"
        assert backend.reconnects == 1
        assert backend.connected


async def test_backend_refuses_to_start_without_redis() -> None:
    backend = ResilientRedisBackend(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RedisConnectionError):
        await backend.connect()


async def test_streams_survive_a_redis_restart(pg_url: str, redis_server: RedisServer) -> None:
    """Events committed while Redis is down reach the other process once it reconnects, in
    order, without the subscribers doing anything (the safety poll is off here)."""
    topic_prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    channel = new_channel()
    url = redis_server.url
    async with (
        process(pg_url, url, topic_prefix=topic_prefix) as a,
        process(pg_url, url, topic_prefix=topic_prefix) as b,
        AsyncExitStack() as exits,
    ):
        remote = [await exits.enter_async_context(b.hub.subscribe(channel)) for _ in range(3)]
        local = await exits.enter_async_context(a.hub.subscribe(channel))
        everyone = [*remote, local]
        for n in range(3):
            await a.append(channel, {"n": n})
        for stream in everyone:
            assert seqs(await take(stream, 3)) == [1, 2, 3]

        await redis_server.stop()
        for n in range(3, 8):
            await a.append(channel, {"n": n})  # committed; the notification is lost
        assert seqs(await take(local, 5)) == [4, 5, 6, 7, 8]  # same process: no Redis needed
        await redis_server.start()
        # Nothing new is published: only the reconnect can tell B to read the log.
        for stream in remote:
            got = await take(stream, 5)
            assert [(d.seq, d.payload["n"]) for d in got] == [(s, s - 1) for s in range(4, 9)]
        assert backend_of(b).reconnects >= 1

        for n in range(8, 10):
            await a.append(channel, {"n": n})  # and live delivery works again
        for stream in everyone:
            assert seqs(await take(stream, 2)) == [9, 10]
