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

from watchparty.access_tokens import AccessTokens
from watchparty.config import ConfigurationError, Settings
from watchparty.db import create_engine, create_sessionmaker, unit_of_work
from watchparty.events.schema import decode as decode_event
from watchparty.jobs import (
    ArqJobQueue,
    InProcessJobQueue,
    JobFunction,
    JobQueue,
    Periodic,
    job_pool,
    run_periodically,
)
from watchparty.jobs_buffer import BufferedArqJobQueue
from watchparty.kit.ratelimit import (
    FallbackRateLimiter,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from watchparty.kit.redis_guard import CircuitBreaker, guarded_redis
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
    # Shared by every Redis client of the process: while open, Redis is skipped (degraded mode).
    redis_breaker: CircuitBreaker | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def unit_of_work(self) -> Any:
        """`async with state.unit_of_work() as uow:` one session, one commit, and the outbox
        (`watchparty.events.record`) announced through this process's hub after the commit."""
        return unit_of_work(self.sessionmaker, state=self)

    def redis_retry_after_seconds(self) -> int:
        """What to tell a client to wait while Redis is unavailable (`ServiceUnavailable`)."""
        return self.redis_breaker.retry_after_seconds if self.redis_breaker else 1


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


async def _job_queue(settings: Settings, breaker: CircuitBreaker) -> ArqJobQueue:
    """ARQ's queue with the process's Redis timeouts (`jobs.job_pool`), keeping enqueues in
    memory while Redis is unavailable (jobs_buffer.py)."""
    pool = job_pool(settings)
    await _require_redis(pool, settings.redis_url)
    return BufferedArqJobQueue(
        pool,
        breaker,
        id_prefix=settings.redis_key_prefix,
        command_seconds=settings.redis_socket_timeout_seconds,
    )


@asynccontextmanager
async def build_state(
    settings: Settings,
    *,
    functions: dict[str, JobFunction],
    periodics: list[Periodic],
    worker: bool = False,
) -> AsyncIterator[AppState]:
    """The process's state. `functions` and `periodics` are the jobs (`registry.py`, the
    composition root): run in-process when there is no Redis, and `periodics` looped in-process
    too unless this is the worker (which runs them as cron jobs)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.auto_migrate:
        from watchparty.migrations import upgrade_to_head

        await upgrade_to_head(settings.database_url)

    redis: Redis | None = None
    breaker: CircuitBreaker | None = None
    socket_timeout = settings.redis_socket_timeout_seconds
    connect_timeout = settings.redis_connect_timeout_seconds
    if settings.redis_url:
        breaker = CircuitBreaker(settings.redis_cooldown_seconds)
        redis = guarded_redis(
            settings.redis_url,
            breaker,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
        )
        await _require_redis(redis, settings.redis_url)
    engine = create_engine(
        settings.database_url, echo=settings.db_echo, pool_size=settings.db_pool_size
    )
    # redis: reconnects after restarts, publishes through the breaker
    broadcast = create_broadcast(
        settings.broadcast_url,
        socket_timeout=socket_timeout,
        connect_timeout=connect_timeout,
        breaker=breaker,
    )
    limiter: RateLimiter = MemoryRateLimiter()
    if redis is not None:
        # Redis counters; this process's memory (or SERVICE_UNAVAILABLE) while Redis is away
        limiter = FallbackRateLimiter(
            RedisRateLimiter(redis, prefix=settings.redis_key_prefix), limiter
        )
    ctx: dict[str, Any] = {}
    jobs: JobQueue
    if settings.redis_url and breaker is not None:
        jobs = await _job_queue(settings, breaker)
    else:
        jobs = InProcessJobQueue(functions, ctx)

    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        redis=redis,
        broadcast=broadcast,
        jobs=jobs,
        limiter=limiter,
        access_tokens=AccessTokens(settings),
        hub=Hub.from_settings(settings, engine, broadcast, decode=decode_event),
        redis_breaker=breaker,
    )
    ctx["state"] = state
    await broadcast.connect()
    await state.hub.start()
    periodic_tasks = []
    if isinstance(jobs, InProcessJobQueue) and not worker:
        periodic_tasks = [
            asyncio.create_task(run_periodically(periodic, ctx)) for periodic in periodics
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
