"""Accepted means durable: a Redis restart, a drain that died mid-batch (before or after its
COPY) and Redis being away lose no accepted event and store none twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.analytics_ingest_ops import event, stored, track
from tests.redis_server import RedisServer
from tests.support import Api, make_settings, running_app
from watchparty.analytics import store
from watchparty.analytics.models import AnalyticsEvent, EventSource


def settings_for(pg_url: str, tmp: Path, redis_url: str) -> Any:
    return make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp,
        redis_url=redis_url,
        redis_socket_timeout_seconds=0.5,
        redis_cooldown_seconds=0.5,
        analytics_claim_idle_seconds=1.0,
        rate_limit_analytics_anonymous="100000/60",
    )


async def send(api: Api, accepted: list[str], calls: int, size: int = 100) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    for _ in range(calls):
        events = [event("player.heartbeat", properties={"watchedSeconds": 10}) for _ in range(size)]
        payload = await track(api, events, anonymousId="reliability-1")
        assert payload["__typename"] == "TrackEventsPayload", payload
        assert (payload["accepted"], payload["duplicates"]) == (size, 0)
        accepted.extend(e["id"] for e in events)
        sent.extend(events)
    return sent


async def count(api: Api, ids: list[str]) -> int:
    async with api.state.sessionmaker() as session:
        query = select(func.count()).select_from(AnalyticsEvent).where(AnalyticsEvent.id.in_(ids))
        return int(await session.scalar(query) or 0)


async def test_restart_and_dead_drains_lose_nothing(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("reliability")
    server = RedisServer(directory=tmp / "redis")  # append-only file: a restart keeps the stream
    await server.start()
    try:
        # No worker: this test plays the drains itself, one of them dying.
        async with running_app(settings_for(pg_url, tmp, server.url), worker=False) as api:
            state = api.state
            accepted: list[str] = []
            first = await send(api, accepted, 5)
            assert await count(api, accepted) == 0  # in the stream, not drained yet
            redis = server.client()
            key = store.stream_key(state)
            await redis.xgroup_create(key, store.GROUP, id="0", mkstream=True)
            # A drain reads two entries and dies: one before its COPY, one after it (no XACK).
            read = await redis.xreadgroup(store.GROUP, "dead-drain", {key: ">"}, count=2)
            entries = read[0][1]
            await store.copy_rows(state, store._decode_entry(entries[1][1]))
            await redis.aclose()

            await server.stop()
            await server.start()  # same port, same append-only file
            await send(api, accepted, 3)  # the first may find the old connection broken

            # Redis away: the events are inserted in the request, at once.
            await server.stop()
            away: list[str] = []
            await send(api, away, 2)
            assert await count(api, away) == 200
            accepted.extend(away)
            await server.start()
            await asyncio.sleep(0.6)  # the breaker's cool-down
            # Frozen: the call waits out the socket timeout, then inserts directly; the script
            # it sent runs when Redis thaws, and the drain's ON CONFLICT keeps the row single.
            with server.frozen():
                frozen: list[str] = []
                await send(api, frozen, 1)
                assert await count(api, frozen) == 100
            accepted.extend(frozen)
            await asyncio.sleep(1.2)  # the dead drain's entries are now idle long enough

            for _ in range(20):
                await store.drain(state)
                if await count(api, accepted) == len(accepted):
                    break
                await asyncio.sleep(0.3)
            assert await count(api, accepted) == len(accepted) == 1100
            assert len(set(accepted)) == 1100
            redis = server.client()
            assert await redis.xlen(key) == 0  # drained entries are deleted
            assert (await redis.xpending(key, store.GROUP))["pending"] == 0
            await redis.aclose()
            # Retries of events accepted before the restart are still known as duplicates.
            again = await track(api, first[:3], anonymousId="reliability-1")
            assert (again["accepted"], again["duplicates"]) == (0, 3)
            assert len(await stored(api, [e["id"] for e in first[:3]])) == 3
    finally:
        await server.stop()


async def test_worker_drains_with_backpressure(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("backpressure")
    server = RedisServer()
    await server.start()
    try:
        settings = settings_for(pg_url, tmp, server.url).model_copy(
            update={"analytics_stream_max_entries": 10}
        )
        async with running_app(settings, worker=False) as api:
            accepted: list[str] = []
            await send(api, accepted, 10, size=5)
            full = await track(api, [event()], anonymousId="reliability-2")
            assert full["__typename"] == "RateLimited" and full["retryAfterSeconds"] == 2
            await store.drain(api.state)
            assert await count(api, accepted) == 50
            assert (await track(api, [event()], anonymousId="reliability-2"))["accepted"] == 1
    finally:
        await server.stop()


async def test_an_entry_the_database_refuses_does_not_block_the_drain(api: Api) -> None:
    """A stream entry PostgreSQL cannot store (validation keeps such text out; this one is
    written to the stream by hand) goes to the dead-letter stream; the entries around it
    arrive."""
    state = api.state
    redis = state.redis
    assert redis is not None
    now = datetime.now(UTC)

    def entry(name: str) -> dict[str, str]:
        row = store.EventRow(now.date(), uuid.uuid4().hex, name, EventSource.CLIENT, now, now)
        return {"v": "1", "e": f"[{row.encode()}]"}

    good, poison, after = entry("player.play"), entry("player.play\x00"), entry("player.pause")
    for fields in (good, poison, after):
        await redis.xadd(store.stream_key(state), fields)  # type: ignore[arg-type]
    ids = [json.loads(fields["e"])[0][1] for fields in (good, after)]
    assert len(await stored(api, ids)) == 2  # the worker's drain
    dead = await redis.xrange(store.dead_letter_key(state))
    assert len(dead) == 1
    assert json.loads(dead[0][1][b"e"])[0][2] == "player.play\x00"
    assert dead[0][1][b"error"].startswith(b"CharacterNotInRepertoireError")
