"""The API's ARQ queue, kept working while Redis is unavailable: enqueues wait in memory.

Jobs are enqueued after a commit: the change is made, and losing its job (a party that never
advances to the next item, a mail never sent) is worse than running it late. So while Redis does
not answer, an enqueue is kept in this process's memory (at most `max_pending`, the oldest dropped
with an error log) and sent, in order, once the circuit breaker lets a probe through again. A
deferred job keeps its due time. Jobs are idempotent with deterministic ids (jobs.py), so one sent
twice (an enqueue that timed out after reaching Redis) does no harm. What is still pending when the
process exits is lost, and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis

from watchparty.jobs import ArqJobQueue
from watchparty.kit.redis_guard import CircuitBreaker, RedisUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    name: str
    job_id: str | None
    due: float  # time.monotonic() when the job should run
    kwargs: dict[str, Any]


class BufferedArqJobQueue(ArqJobQueue):
    def __init__(
        self,
        pool: ArqRedis,
        breaker: CircuitBreaker,
        *,
        id_prefix: str = "",
        command_seconds: float,
        max_pending: int = 10_000,
    ) -> None:
        super().__init__(pool, id_prefix=id_prefix)
        self.breaker = breaker
        self.command_seconds = command_seconds
        self.max_pending = max_pending
        self._pending: deque[_Pending] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Jobs waiting in memory for Redis."""
        return len(self._pending)

    async def _submit(
        self, name: str, job_id: str | None, defer_seconds: float | None, kwargs: dict[str, Any]
    ) -> bool:
        """As `ArqJobQueue`'s; True (not known to be a duplicate) when kept in memory. (A
        non-JSON argument has failed in `enqueue` already, Redis or not.)"""
        job = _Pending(name, job_id, time.monotonic() + (defer_seconds or 0.0), kwargs)
        if not self._pending:  # behind jobs already waiting, to keep their order
            try:
                return await self._send(job)
            except RedisUnavailable:
                pass
        self._keep(job)
        return True

    async def _send(self, job: _Pending) -> bool:
        defer = max(0.0, job.due - time.monotonic())
        send = super()._submit
        return await self.breaker.call(
            lambda: send(job.name, job.job_id, defer, job.kwargs),
            self.command_seconds,
        )

    def _keep(self, job: _Pending) -> None:
        if len(self._pending) >= self.max_pending:
            dropped = self._pending.popleft()
            log.error(
                "job dropped: too many waiting for redis",
                extra={"job": dropped.name, "job_id": dropped.job_id},
            )
        self._pending.append(job)
        log.warning("job kept in memory until redis answers", extra={"job": job.name})
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_forever(), name="job-buffer")

    async def _flush_forever(self) -> None:
        while self._pending:
            await asyncio.sleep(min(1.0, self.breaker.cooldown_seconds))
            try:
                await self.flush()
            except Exception:  # a job Redis refuses (not an outage): drop it, keep the rest
                job = self._pending.popleft()
                log.exception("job not enqueued", extra={"job": job.name, "job_id": job.job_id})

    async def flush(self) -> None:
        """Send the waiting jobs, oldest first, until Redis fails again."""
        while self._pending:
            try:
                await self._send(self._pending[0])
            except RedisUnavailable:
                return
            self._pending.popleft()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._pending:
            log.error("jobs lost at shutdown: redis was unavailable", extra={"jobs": self.pending})
        await super().close()
