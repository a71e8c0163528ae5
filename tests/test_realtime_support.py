"""Helpers shared by the realtime tests (no tests here): stacks, hubs, appends, collection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.support import REDIS_URL
from watchparty.db import create_engine, create_sessionmaker, unit_of_work
from watchparty.migrations import upgrade_to_head
from watchparty.realtime import (
    Delivery,
    EventRecord,
    Hub,
    Subscription,
    append_event,
    create_broadcast,
    publish_after_commit,
)

WAIT = 20.0  # a hang guard, never a timing assertion


def new_channel() -> str:
    return f"test:{uuid.uuid4().hex}"


@dataclass
class Process:
    """What one API process holds: its own engine, broadcast connection and hub."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    broadcast: Broadcast
    hub: Hub

    async def append(self, channel: str, payload: dict[str, Any]) -> EventRecord:
        """One unit of work: append, commit, then notify (the way services will do it)."""
        async with unit_of_work(self.sessionmaker) as uow:
            record = await append_event(uow.session, channel, payload)
            publish_after_commit(uow, self.hub, record)
        return record


@asynccontextmanager
async def process(
    database_url: str,
    broadcast_url: str,
    *,
    topic_prefix: str,
    broadcast: Broadcast | None = None,
    **hub_options: Any,
) -> AsyncIterator[Process]:
    """Start a simulated API process; `broadcast` may be given to share a memory backend."""
    engine = create_engine(database_url, pool_size=5)
    own_broadcast = broadcast is None
    broadcast = broadcast or create_broadcast(broadcast_url)
    if own_broadcast:
        await broadcast.connect()
    hub_options.setdefault("poll_seconds", 0)
    hub = Hub(engine, broadcast, topic_prefix=topic_prefix, **hub_options)
    await hub.start()
    try:
        yield Process(engine, create_sessionmaker(engine), broadcast, hub)
    finally:
        await hub.close()
        if own_broadcast:
            await broadcast.disconnect()
        await engine.dispose()


async def sqlite_url(tmp: Path) -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{tmp / 'realtime.db'}"
    await upgrade_to_head(url)
    return url


def prefix() -> str:
    return f"wptest-{uuid.uuid4().hex[:8]}:"


@asynccontextmanager
async def stack(mode: str, pg_url: str, tmp: Path, **hub_options: Any) -> AsyncIterator[Process]:
    """'postgres': PostgreSQL + the shared Redis; 'embedded': SQLite + memory broadcast."""
    if mode == "postgres":
        async with process(pg_url, REDIS_URL, topic_prefix=prefix(), **hub_options) as p:
            yield p
    else:
        url = await sqlite_url(tmp)
        async with process(url, "memory://", topic_prefix=prefix(), **hub_options) as p:
            yield p


async def take(stream: Subscription, count: int) -> list[Delivery]:
    """The next `count` deliveries (fails the test instead of hanging)."""

    async def _take() -> list[Delivery]:
        return [await anext(stream) for _ in range(count)]

    return await asyncio.wait_for(_take(), WAIT)


def seqs(deliveries: list[Delivery]) -> list[int | None]:
    return [d.seq for d in deliveries]
