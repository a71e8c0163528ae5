"""Background jobs: ARQ on Redis in production, the same functions in-process when embedded.

Job functions have ARQ's shape, `async def job(ctx, **kwargs)`, take only JSON-serialisable
arguments (ids, not objects), and must be idempotent: ARQ may run a job more than once. Enqueue
from a mutation with `enqueue_after_commit` so a rolled-back change never triggers a job.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from arq.connections import ArqRedis

from watchparty.db import UnitOfWork

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


def job_serializer(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def job_deserializer(value: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(value)
    return result


class JobQueue(Protocol):
    async def enqueue(self, name: str, /, *, job_id: str | None = None, **kwargs: Any) -> None: ...

    async def close(self) -> None: ...


class ArqJobQueue:
    """Enqueues onto the ARQ queue in Redis; `watchparty worker` runs the jobs."""

    def __init__(self, pool: ArqRedis) -> None:
        self.pool = pool

    async def enqueue(self, name: str, /, *, job_id: str | None = None, **kwargs: Any) -> None:
        await self.pool.enqueue_job(name, _job_id=job_id, **kwargs)

    async def close(self) -> None:
        await self.pool.aclose()


class InProcessJobQueue:
    """Runs jobs as tasks of this process (embedded mode). Same functions, same ctx shape."""

    def __init__(self, functions: dict[str, JobFunction], ctx: dict[str, Any]) -> None:
        self.functions = functions
        self.ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()
        self._running_ids: set[str] = set()

    async def enqueue(self, name: str, /, *, job_id: str | None = None, **kwargs: Any) -> None:
        function = self.functions[name]
        if job_id is not None and job_id in self._running_ids:
            return  # same de-duplication ARQ gives a job id
        # Round-trip the arguments through the serializer so embedded mode fails the same way
        # production would on something that is not JSON.
        kwargs = job_deserializer(job_serializer(kwargs))
        task = asyncio.create_task(self._run(name, function, job_id, kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, name: str, function: JobFunction, job_id: str | None, kwargs: dict[str, Any]
    ) -> None:
        if job_id:
            self._running_ids.add(job_id)
        try:
            await function({**self.ctx, "job_id": job_id, "job_try": 1}, **kwargs)
        except Exception:
            log.exception("in-process job failed", extra={"job": name, "job_id": job_id})
        finally:
            if job_id:
                self._running_ids.discard(job_id)

    async def drain(self) -> None:
        """Wait for every job started so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()


def enqueue_after_commit(
    uow: UnitOfWork, queue: JobQueue, name: str, /, *, job_id: str | None = None, **kwargs: Any
) -> None:
    async def _enqueue() -> None:
        await queue.enqueue(name, job_id=job_id, **kwargs)

    uow.after_commit(_enqueue)


def job_functions() -> dict[str, JobFunction]:
    """Every job the worker runs, by name. Domains add theirs here."""
    from watchparty.mail import send_email

    functions: list[JobFunction] = [send_email]
    return {f.__name__: f for f in functions}
