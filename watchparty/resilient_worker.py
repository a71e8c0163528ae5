"""An ARQ worker that outlives Redis restarts and freezes.

ARQ 0.28's `Worker.main` polls Redis in a loop and lets the first connection error out: the worker
process exits and stays down. `ResilientWorker` keeps the same loop but treats Redis trouble
(refused, reset, timed out: `REDIS_DOWN`) as an outage to wait out:

- the poll loop logs the error, sleeps a bounded exponential backoff with jitter and goes on; the
  connection pool reconnects on the next call, so when Redis is back, so is the worker (the cron
  jobs with it: a tick missed during the outage is skipped, the next one runs);
- jobs running during the outage go on running; recording their outcome (`finish_job`) is
  retried for `FINISH_RETRY_SECONDS`. If it still cannot be recorded, the job's in-progress key is
  deleted once Redis answers again, so the job (still in the queue) runs again promptly rather
  than when the key expires (jobs are idempotent; see jobs.py);
- picking jobs no longer leaks a concurrency slot when Redis fails half-way (ARQ's `start_jobs`
  does: after `max_jobs` such errors it would never pick a job again);
- ARQ's per-job in-progress lock is a lease: set for `JOB_LEASE_SECONDS` and renewed while the
  job runs. ARQ sets it once for the longest job timeout plus 10 s (6 h here, for
  `process_video`), so the jobs of a killed worker ran again only 6 h later; now within a minute.
  (A job's own timeout is still enforced by ARQ, as before);
- every call has a socket timeout (`create_job_pool`), so a frozen Redis (SIGSTOP) is an error
  after REDIS_SOCKET_TIMEOUT_SECONDS, not a hang.

A Redis restart without persistence loses the queue itself: that is Redis's durability, not the
worker's; the periodic sweepers (e.g. video processing's) re-queue work they find stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from arq.connections import ArqRedis, log_redis_info
from arq.constants import in_progress_key_prefix
from arq.jobs import Deserializer, Serializer
from arq.utils import poll, timestamp_ms
from arq.worker import Worker
from redis.asyncio import ConnectionPool
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from watchparty.kit.cancel import cancel_requested, reraise_if_cancelled

log = logging.getLogger(__name__)

# What a lost, restarting or frozen Redis raises (builtin ConnectionError is an OSError).
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
FINISH_RETRY_SECONDS = 30.0
JOB_LEASE_SECONDS = 60.0  # renewed every quarter of it while the job runs


def backoff_seconds(failures: int) -> float:
    """0.5, 1, 2, 4 ... seconds (capped at BACKOFF_MAX_SECONDS) for the n-th failure in a row,
    with "equal jitter" (half fixed, half random) so a fleet of workers does not retry in step."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2.0 ** max(failures - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (not cryptographic)


ARQ_KEYS = "arq:"  # what ARQ's own keys start with (arq.constants): job, result, in-progress...


def _under(prefix: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`args` of one Redis command with every ARQ key (a str starting "arq:") moved under
    `prefix`. Only ARQ's keys start so: job ids, members and values (JSON, counters) never do."""
    if not prefix:
        return args
    return (
        args[0],
        *(prefix + a if isinstance(a, str) and a.startswith(ARQ_KEYS) else a for a in args[1:]),
    )


class PrefixedPipeline(Pipeline):
    key_prefix = ""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return super().execute_command(*_under(self.key_prefix, args), **kwargs)


class PrefixedArqRedis(ArqRedis):
    """ARQ's client with ARQ's keys under REDIS_KEY_PREFIX.

    ARQ names its keys with module constants (`arq:job:<id>`, `arq:result:<id>`,
    `arq:in-progress:<id>`, `arq:retry:<id>`, `arq:abort`) that no option changes, so the client
    moves them at the one place every command passes (`<prefix>arq:job:<id>`...), pipelines and
    transactions included. Keys we name ourselves (the queue, the health check) already carry
    the prefix and are left alone."""

    def __init__(self, *args: Any, key_prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_prefix = key_prefix

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return super().execute_command(*_under(self.key_prefix, args), **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = PrefixedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.key_prefix = self.key_prefix
        return pipe


def create_job_pool(
    url: str,
    *,
    key_prefix: str,
    queue_name: str,
    socket_timeout: float,
    connect_timeout: float,
    job_serializer: Serializer | None = None,
    job_deserializer: Deserializer | None = None,
) -> ArqRedis:
    """An ARQ Redis client whose every call times out (ARQ's `create_pool` sets only a connect
    timeout, so a frozen Redis would hang a call forever), with ARQ's keys under `key_prefix`.
    Connects lazily, on the first call."""
    connections = ConnectionPool.from_url(
        url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout
    )
    return PrefixedArqRedis(
        connections,
        key_prefix=key_prefix,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        default_queue_name=queue_name,
    )


class ResilientWorker(Worker):
    """ARQ's worker, reconnecting instead of exiting when Redis goes away (see the module)."""

    def __init__(
        self,
        *args: Any,
        pool_factory: Callable[[], ArqRedis],
        job_lease_seconds: float = JOB_LEASE_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._pool_factory = pool_factory
        self.in_progress_timeout_s = job_lease_seconds  # ARQ's lock on a running job
        self._leases_renewed_at = 0.0
        self._unfinished: set[str] = set()  # job ids whose outcome Redis never recorded
        self.redis_failures = 0  # in a row; 0 while Redis answers

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await self._connect()
        log.info("worker connected to Redis", extra={"functions": list(self.functions)})
        with contextlib.suppress(*REDIS_DOWN):
            await log_redis_info(self.pool, log.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        while True:
            try:
                await self._poll_until_done()
                return
            except REDIS_DOWN as exc:
                await self._wait_out(exc)

    async def _connect(self) -> ArqRedis:
        while True:
            pool = self._pool_factory()
            try:
                await pool.ping()
            except REDIS_DOWN as exc:
                await pool.aclose(close_connection_pool=True)
                await self._wait_out(exc)
            else:
                return pool

    async def _wait_out(self, exc: BaseException) -> None:
        reraise_if_cancelled(exc)  # a stop request seen as a timeout is still a stop request
        self.redis_failures += 1
        delay = backoff_seconds(self.redis_failures)
        log.warning(
            "worker lost Redis, retrying",
            extra={
                "error": f"{type(exc).__name__}: {exc}",
                "failures": self.redis_failures,
                "retry_in_seconds": round(delay, 2),
            },
        )
        await asyncio.sleep(delay)

    async def _poll_until_done(self) -> None:
        """ARQ's poll loop (`Worker.main`), noting recoveries; returns only in burst mode."""
        async for _ in poll(self.poll_delay_s):
            # A stop request (SIGTERM, a test's cancel) that an await inside ARQ or redis-py
            # swallowed leaves the task marked as cancelling: honour it here, or the worker
            # would poll on and never stop (seen under load in the tests).
            if cancel_requested():
                raise asyncio.CancelledError()
            await self._poll_iteration()
            await self._renew_leases()
            if self.redis_failures:
                log.warning("worker reconnected to Redis", extra={"failures": self.redis_failures})
                self.redis_failures = 0
            if self._unfinished:
                await self._release_unfinished()
            if self.burst:
                if 0 <= self.max_burst_jobs <= self._jobs_started():
                    await asyncio.gather(*self.tasks.values())
                    return
                if await self.pool.zcard(self.queue_name) == 0:
                    await asyncio.gather(*self.tasks.values())
                    return

    async def _renew_leases(self) -> None:
        """Keep the in-progress locks of the jobs running here (a dead worker's expire)."""
        now = self.loop.time()
        if now - self._leases_renewed_at < self.in_progress_timeout_s / 4:
            return
        running = [job_id for job_id, task in self.tasks.items() if not task.done()]
        if running:
            lease_ms = int(self.in_progress_timeout_s * 1000)
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in running:
                    pipe.pexpire(in_progress_key_prefix + job_id, lease_ms)
                await pipe.execute()
        self._leases_renewed_at = now

    async def _release_unfinished(self) -> None:
        """Let jobs whose outcome was never recorded run again now (not when ARQ's in-progress
        key expires, which is the longest job timeout later)."""
        job_ids = sorted(self._unfinished)
        await self.pool.delete(*(in_progress_key_prefix + job_id for job_id in job_ids))
        self._unfinished.difference_update(job_ids)
        log.warning("released jobs interrupted by a Redis outage", extra={"job_ids": job_ids})

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """ARQ's `start_jobs`, giving the concurrency slot back when Redis fails mid-way."""
        for job_id_b in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = job_id_b.decode()
            running_here = job_id in self.tasks and not self.tasks[job_id].done()
            if running_here:  # its lease lapsed in a long Redis outage: it still runs here
                self._release_sem_dec_counter_on_complete()
                continue
            try:
                score = await self._mark_in_progress(job_id)
            except BaseException:
                self._release_sem_dec_counter_on_complete()
                raise
            if score is None:
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self._run_job_surviving_redis(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _mark_in_progress(self, job_id: str) -> int | None:
        """Take the job (its score) or None: running elsewhere, finished, or re-enqueued with
        a delay meanwhile."""
        in_progress_key = in_progress_key_prefix + job_id
        async with self.pool.pipeline(transaction=True) as pipe:
            await pipe.watch(in_progress_key)
            ongoing_exists = await pipe.exists(in_progress_key)
            score = await pipe.zscore(self.queue_name, job_id)
            if ongoing_exists or not score or score > timestamp_ms():
                return None
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.psetex(in_progress_key, int(self.in_progress_timeout_s * 1000), b"1")
            try:
                await pipe.execute()
            except (ResponseError, WatchError):  # started elsewhere meanwhile
                return None
        return int(score)

    async def _run_job_surviving_redis(self, job_id: str, score: int) -> None:
        try:
            await self.run_job(job_id, score)
        except REDIS_DOWN as exc:
            reraise_if_cancelled(exc)
            # Reading the job or recording its outcome failed: it stays queued, and its
            # in-progress key goes when Redis answers again.
            log.warning("job interrupted by a Redis outage", extra={"job_id": job_id})
            self._unfinished.add(job_id)

    async def finish_job(self, *args: Any, **kwargs: Any) -> None:
        await self._retrying(lambda: super(ResilientWorker, self).finish_job(*args, **kwargs))

    async def finish_failed_job(self, *args: Any, **kwargs: Any) -> None:
        await self._retrying(
            lambda: super(ResilientWorker, self).finish_failed_job(*args, **kwargs)
        )

    async def _retrying(self, call: Callable[[], Awaitable[None]]) -> None:
        """Run a (transactional, so repeatable) Redis write until it lands or
        FINISH_RETRY_SECONDS pass."""
        deadline = self.loop.time() + FINISH_RETRY_SECONDS
        failures = 0
        while True:
            try:
                await call()
                return
            except REDIS_DOWN as exc:
                reraise_if_cancelled(exc)
                failures += 1
                delay = backoff_seconds(failures)
                if self.loop.time() + delay > deadline:
                    raise
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """ARQ's `close`, finishing the shutdown (on_shutdown included) when Redis is down."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.aclose(close_connection_pool=True)
        self._pool = None
