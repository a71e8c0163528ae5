"""Background jobs: ARQ on Redis in production, the same functions in-process when embedded.

Job functions have ARQ's shape, `async def job(ctx, **kwargs)`, take only JSON-serialisable
arguments (ids, not objects), and must be idempotent: ARQ may run a job more than once. Enqueue
from a mutation with `enqueue_after_commit` so a rolled-back change never triggers a job.

The jobs themselves belong to the domains; the composition root lists them (`registry.py`) and
hands them to the in-process queue (`state.build_state`) and the ARQ worker (`worker.py`).

A `job_id` makes an enqueue idempotent: ARQ ignores a second job with the same id while the first
is queued, running, or its result is kept; the in-process queue ignores it while the first is
pending or running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Retry

from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.resilient_worker import create_job_pool

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


def _json_default(value: object) -> object:
    # A few unambiguous conversions; anything else (an ORM object, a set) is a bug at the call
    # site and must fail at enqueue time rather than reach the job as its repr.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseException):  # ARQ stores a failed job's exception as its result
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"job arguments must be JSON: {type(value).__name__} is not")


def job_serializer(value: dict[str, Any]) -> bytes:
    """ARQ's serializer for jobs and results: JSON, never pickle."""
    return json.dumps(value, separators=(",", ":"), default=_json_default).encode()


def job_deserializer(value: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(value)
    return result


class JobQueue(ABC):
    """Where enqueued jobs go: ARQ in Redis, or tasks of this process. One `enqueue` for all; a
    queue only says how it submits a job whose arguments are known to be JSON (`_submit`)."""

    async def enqueue(
        self,
        name: str,
        /,
        *,
        job_id: str | None = None,
        defer_seconds: float | None = None,
        **kwargs: Any,
    ) -> bool:
        """Queue `name(**kwargs)` (to run `defer_seconds` from now when given); False when a job
        with this `job_id` is already known. A non-JSON argument raises TypeError here, on every
        queue alike."""
        job_serializer(kwargs)
        return await self._submit(name, job_id, defer_seconds, kwargs)

    @abstractmethod
    async def _submit(
        self, name: str, job_id: str | None, defer_seconds: float | None, kwargs: dict[str, Any]
    ) -> bool: ...

    @abstractmethod
    async def close(self) -> None: ...


class ArqJobQueue(JobQueue):
    """Enqueues onto the ARQ queue in Redis; `watchparty worker` runs the jobs.

    Every key ARQ writes is under REDIS_KEY_PREFIX (`resilient_worker.PrefixedArqRedis`:
    `<prefix>arq:job:<id>`...), and so is every job id, random ones included (ARQ's cron ids,
    `<name>:<time>`, carry the prefix in the name: `worker.cron_jobs`).
    """

    def __init__(self, pool: ArqRedis, *, id_prefix: str = "") -> None:
        self.pool = pool
        self.id_prefix = id_prefix

    def arq_job_id(self, job_id: str) -> str:
        return self.id_prefix + job_id

    async def _submit(
        self, name: str, job_id: str | None, defer_seconds: float | None, kwargs: dict[str, Any]
    ) -> bool:
        arq_id = self.arq_job_id(job_id if job_id is not None else uuid.uuid4().hex)
        defer = defer_seconds if defer_seconds and defer_seconds > 0 else None
        job = await self.pool.enqueue_job(name, _job_id=arq_id, _defer_by=defer, **kwargs)
        return job is not None

    async def close(self) -> None:
        await self.pool.aclose(close_connection_pool=True)


MAX_TRIES = 5  # runs of a job, the first included (ARQ worker and in-process queue alike)


def job_pool(settings: Settings) -> ArqRedis:
    """The job queue's Redis client (API and worker), with REDIS_SOCKET_TIMEOUT_SECONDS on every
    call: ARQ's own `create_pool` sets a connect timeout only."""
    return create_job_pool(
        settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        queue_name=queue_name(settings),
        socket_timeout=settings.redis_socket_timeout_seconds,
        connect_timeout=settings.redis_connect_timeout_seconds,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
    )


def queue_name(settings: Settings) -> str:
    return settings.redis_key_prefix + "arq:queue"


def retry_delay_seconds(job_try: int) -> float:
    """2, 4, 8, 16 ... seconds, capped at five minutes."""
    return float(min(2**job_try, 300))


@dataclass(frozen=True, slots=True)
class _Job:
    """A job of the in-process queue: what each of its runs needs."""

    name: str
    function: JobFunction
    job_id: str | None
    kwargs: dict[str, Any]


class InProcessJobQueue(JobQueue):
    """Runs jobs as tasks of this process (embedded mode). Same functions, same ctx shape, and
    the worker's retries: a job that raises `Retry` runs again after its delay, any other
    exception with backoff, up to `MAX_TRIES` runs."""

    def __init__(self, functions: dict[str, JobFunction], ctx: dict[str, Any]) -> None:
        self.functions = functions
        self.ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()  # deferred jobs not started yet
        self._pending_ids: set[str] = set()

    async def _submit(
        self, name: str, job_id: str | None, defer_seconds: float | None, kwargs: dict[str, Any]
    ) -> bool:
        function = self.functions[name]
        # Round-trip the arguments through the serializer so the job sees exactly what it would
        # see from Redis.
        job = _Job(name, function, job_id, job_deserializer(job_serializer(kwargs)))
        if job_id is not None:
            if job_id in self._pending_ids:
                return False
            self._pending_ids.add(job_id)
        if defer_seconds and defer_seconds > 0:
            self._start_later(job, 1, defer_seconds)
        else:
            self._start(job, 1)
        return True

    def _start(self, job: _Job, job_try: int) -> None:
        task = asyncio.create_task(self._run(job, job_try))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_later(self, job: _Job, job_try: int, delay: float) -> None:
        # A timer, not a sleeping task: `drain` waits for due jobs only, `close` drops these.
        def fire() -> None:
            self._timers.discard(handle)
            self._start(job, job_try)

        handle = asyncio.get_running_loop().call_later(max(0.0, delay), fire)
        self._timers.add(handle)

    async def _run(self, job: _Job, job_try: int) -> None:
        about = {"job": job.name, "job_id": job.job_id, "job_try": job_try}
        delay: float | None = None
        try:
            await job.function({**self.ctx, "job_id": job.job_id, "job_try": job_try}, **job.kwargs)
        except Retry as retry:
            delay = (retry.defer_score or 0) / 1000
        except Exception:
            if job_try >= MAX_TRIES:
                log.exception("in-process job failed", extra=about)
            else:
                log.warning("in-process job failed, will retry", exc_info=True, extra=about)
                delay = retry_delay_seconds(job_try)
        if delay is not None and job_try < MAX_TRIES:
            self._start_later(job, job_try + 1, delay)
            return
        if delay is not None:
            log.error("in-process job gave up after %s runs", job_try, extra=about)
        if job.job_id is not None:
            self._pending_ids.discard(job.job_id)

    async def drain(self) -> None:
        """Wait for every job started so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.drain()


def enqueue_after_commit(
    uow: UnitOfWork, queue: JobQueue, name: str, /, *, job_id: str | None = None, **kwargs: Any
) -> None:
    """Enqueue once `uow` commits; a rollback drops the job with the rest of the change."""
    job_serializer(kwargs)  # fail in the mutation, not silently after the commit

    async def _enqueue() -> None:
        await queue.enqueue(name, job_id=job_id, **kwargs)

    uow.after_commit(_enqueue)


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job run on a schedule: an ARQ cron job in production, a loop in embedded mode."""

    function: JobFunction
    every_seconds: int  # a divisor of 60, or a whole number of minutes dividing 60

    @property
    def name(self) -> str:
        return self.function.__name__


async def run_periodically(periodic: Periodic, ctx: dict[str, Any]) -> None:
    """Embedded mode: run `periodic` forever in this process (cancel the task to stop)."""
    while True:
        await asyncio.sleep(periodic.every_seconds)
        try:
            await periodic.function({**ctx, "job_id": None, "job_try": 1})
        except Exception:
            log.exception("periodic job failed", extra={"job": periodic.name})
