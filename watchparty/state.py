"""Everything a process holds for its lifetime: engine, Redis, broadcast, job queue, limiter.

Built the same way by the API server (`app.py` lifespan) and the worker (`worker.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from broadcaster import Broadcast
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from watchparty.accounts.tokens import AccessTokens
from watchparty.config import ConfigurationError, Settings
from watchparty.db import create_engine, create_sessionmaker, unit_of_work
from watchparty.jobs import (
    ArqJobQueue,
    InProcessJobQueue,
    JobQueue,
    job_functions,
    periodic_jobs,
    run_periodically,
)
from watchparty.kit.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from watchparty.realtime import Hub, create_broadcast

REDIS_STARTUP_TIMEOUT_SECONDS = 5.0


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    broadcast: Broadcast
    jobs: JobQueue
    limiter: RateLimiter
    access_tokens: AccessTokens
    hub: Hub
    extras: dict[str, Any] = field(default_factory=dict)

    def unit_of_work(self) -> Any:
        """`async with state.unit_of_work() as uow:` one session, one commit."""
        return unit_of_work(self.sessionmaker)


async def _require_redis(redis: Redis, url: str) -> None:
    """Fail fast with a clear message: a server without its configured Redis cannot work."""
    try:
        await asyncio.wait_for(redis.ping(), REDIS_STARTUP_TIMEOUT_SECONDS)
    except Exception as exc:
        await redis.aclose()
        where = urlsplit(url)
        raise ConfigurationError(
            f"Redis at {where.hostname}:{where.port or 6379} does not answer "
            f"({type(exc).__name__}); start it, or unset REDIS_URL for the embedded mode"
        ) from exc


@asynccontextmanager
async def build_state(settings: Settings, *, worker: bool = False) -> AsyncIterator[AppState]:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.auto_migrate:
        from watchparty.migrations import upgrade_to_head

        await upgrade_to_head(settings.database_url)

    redis: Redis | None = None
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, decode_responses=False)
        await _require_redis(redis, settings.redis_url)
    engine = create_engine(
        settings.database_url, echo=settings.db_echo, pool_size=settings.db_pool_size
    )
    broadcast = create_broadcast(settings.broadcast_url)  # redis: reconnects after restarts
    limiter: RateLimiter = (
        RedisRateLimiter(redis, prefix=settings.redis_key_prefix) if redis else MemoryRateLimiter()
    )
    ctx: dict[str, Any] = {}
    jobs: JobQueue
    if settings.redis_url:
        from arq import create_pool

        from watchparty.jobs import job_deserializer, job_serializer
        from watchparty.worker import queue_name, redis_settings

        pool = await create_pool(
            redis_settings(settings),
            job_serializer=job_serializer,
            job_deserializer=job_deserializer,
            default_queue_name=queue_name(settings),
        )
        jobs = ArqJobQueue(pool, id_prefix=settings.redis_key_prefix)
    else:
        jobs = InProcessJobQueue(job_functions(), ctx)

    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        redis=redis,
        broadcast=broadcast,
        jobs=jobs,
        limiter=limiter,
        access_tokens=AccessTokens(settings),
        hub=Hub.from_settings(settings, engine, broadcast),
    )
    ctx["state"] = state
    await broadcast.connect()
    await state.hub.start()
    periodic_tasks = []
    if isinstance(jobs, InProcessJobQueue) and not worker:
        periodic_tasks = [
            asyncio.create_task(run_periodically(periodic, ctx)) for periodic in periodic_jobs()
        ]
    try:
        yield state
    finally:
        for task in periodic_tasks:
            task.cancel()
        await asyncio.gather(*periodic_tasks, return_exceptions=True)
        await jobs.close()
        await state.hub.close()
        await broadcast.disconnect()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()
