"""`watchparty worker` through Redis trouble: restarted, frozen (SIGSTOP), and a job in flight.

Real `watchparty worker` subprocesses on PostgreSQL and a private redis-server (never the shared
one) that the tests kill, restart on the same port and freeze. Jobs go in through the queue the
API uses (`ArqJobQueue`); the cheap one is `send_email` with the outbox backend, whose file in the
outbox proves the job ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from arq.jobs import Job, JobResult
from arq.worker import Worker

from tests.redis_server import RedisServer
from tests.support import make_settings
from watchparty import resilient_worker
from watchparty.config import Settings
from watchparty.jobs import ArqJobQueue, JobFunction, job_deserializer, job_serializer
from watchparty.resilient_worker import create_job_pool
from watchparty.videos import workdirs
from watchparty.worker import create_worker

WATCHPARTY = Path(sys.executable).parent / "watchparty"


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(WATCHPARTY), "worker", env=self.env, stdout=sink, stderr=sink
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def entries(self) -> list[dict[str, Any]]:
        """The JSON log lines (anything else, e.g. a traceback, is skipped)."""
        found = []
        for line in self.log().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def messages(self) -> list[str]:
        return [str(entry.get("msg", "")) for entry in self.entries()]

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def worker_env(pg_url: str, redis_url: str, tmp: Path, prefix: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "APP_ENV": "test",
        "DATA_DIR": str(tmp),
        "DATABASE_URL": pg_url,
        "AUTO_MIGRATE": "false",
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "REDIS_SOCKET_TIMEOUT_SECONDS": "1",
        "REDIS_CONNECT_TIMEOUT_SECONDS": "1",
        "EMAIL_OUTBOX_DIR": str(tmp / "outbox"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


@asynccontextmanager
async def job_queue(redis_url: str, prefix: str) -> AsyncIterator[ArqJobQueue]:
    """A fresh client per use: the test's own connections must not carry over a restart."""
    pool = create_job_pool(
        redis_url,
        key_prefix=prefix,
        queue_name=prefix + "arq:queue",
        socket_timeout=2,
        connect_timeout=2,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
    )
    queue = ArqJobQueue(pool, id_prefix=prefix)
    try:
        yield queue
    finally:
        await queue.close()


async def send_email(redis_url: str, prefix: str, to: str) -> None:
    async with job_queue(redis_url, prefix) as queue:
        await queue.enqueue(
            "send_email", job_id=f"mail:{to}", to=to, subject="Hi", body="Hello", kind="test"
        )


async def delivered(outbox: Path, to: str, *, timeout: float = 20.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [
            record
            for path in sorted(outbox.glob("*.json"))
            if (record := json.loads(path.read_text()))["to"] == to
        ]
        if found or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def wait_for_message(
    worker: WorkerProcess, message: str, *, count: int = 1, timeout: float = 20.0
) -> None:
    """Until the worker has logged `message` `count` times."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while worker.messages().count(message) < count:
        assert worker.alive, f"the worker exited:\n{worker.log()}"
        assert loop.time() < deadline, f"no {message!r} in the worker's log:\n{worker.log()}"
        await asyncio.sleep(0.05)


async def test_worker_survives_a_redis_restart_and_a_frozen_redis(
    pg_url: str, redis_server: RedisServer, tmp: Path
) -> None:
    redis = redis_server
    prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    outbox = tmp / "outbox"
    worker = WorkerProcess(worker_env(pg_url, redis.url, tmp, prefix), tmp / "worker.log")
    await worker.start()
    try:
        await send_email(redis.url, prefix, "before@example.com")
        assert [r["subject"] for r in await delivered(outbox, "before@example.com")] == ["Hi"]

        # Restarted: killed (its connections reset), down a while, up again on the same port.
        await redis.stop()
        await wait_for_message(worker, "worker lost Redis, retrying")
        await redis.start()
        await send_email(redis.url, prefix, "restarted@example.com")
        assert [r["body"] for r in await delivered(outbox, "restarted@example.com")] == ["Hello"]
        await wait_for_message(worker, "worker reconnected to Redis")
        assert worker.alive

        # Frozen: calls time out (REDIS_SOCKET_TIMEOUT_SECONDS=1) instead of hanging for good.
        reconnects = worker.messages().count("worker reconnected to Redis")
        losses = worker.messages().count("worker lost Redis, retrying")
        with redis.frozen():
            await wait_for_message(worker, "worker lost Redis, retrying", count=losses + 1)
        thawed_ms = time.time() * 1000
        await send_email(redis.url, prefix, "thawed@example.com")
        assert len(await delivered(outbox, "thawed@example.com")) == 1
        await wait_for_message(worker, "worker reconnected to Redis", count=reconnects + 1)
        assert worker.alive
        errors = [e["error"] for e in worker.entries() if e["msg"] == "worker lost Redis, retrying"]
        assert errors[losses].startswith("TimeoutError"), errors

        # Cron jobs resumed too: a sweep (every 5 s) of a tick after the thaw started. Its job id
        # carries REDIS_KEY_PREFIX, so deployments sharing a Redis do not take each other's ticks.
        async with job_queue(redis.url, prefix) as queue:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            # (ARQ keeps a cron job's in-progress key for a minute after it ran; the job pool
            # moves the pattern under the prefix like every ARQ key)
            pattern = f"arq:in-progress:{prefix}sweep_stale_processing:*"
            while not [
                key
                async for key in queue.pool.scan_iter(match=pattern)
                if int(key.rsplit(b":", 1)[1]) > thawed_ms
            ]:
                assert loop.time() < deadline, "no sweep ran after the thaw"
                await asyncio.sleep(0.2)
    finally:
        await worker.stop()
    assert worker.process is not None and worker.process.returncode == 0, worker.log()


@asynccontextmanager
async def worker_in_process(
    settings: Settings, functions: dict[str, JobFunction], **options: Any
) -> AsyncIterator[Worker]:
    worker = create_worker(
        settings, functions=functions, handle_signals=False, poll_delay=0.05, **options
    )
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
        assert not task.done(), task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()


async def job_result(redis_url: str, prefix: str, job_id: str) -> JobResult | None:
    async with job_queue(redis_url, prefix) as queue:
        job = Job(prefix + job_id, queue.pool, _deserializer=job_deserializer)
        return await job.result_info()


@pytest.mark.parametrize("outage", ["short", "longer than the finish retries"])
async def test_a_job_finishing_while_redis_is_down_is_not_lost(
    pg_url: str, tmp: Path, outage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short: the worker records the outcome once Redis is back (the job ran once). Longer than
    FINISH_RETRY_SECONDS: the job is released as soon as Redis answers and runs again."""
    if outage != "short":
        monkeypatch.setattr(resilient_worker, "FINISH_RETRY_SECONDS", 0.2)
    redis = RedisServer(tmp / "redis")  # append-only: a restart keeps the queue
    await redis.start()
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp,
        redis_url=redis.url,
        redis_socket_timeout_seconds=1,
        redis_connect_timeout_seconds=1,
    )
    prefix = settings.redis_key_prefix
    release = asyncio.Event()
    runs: list[int] = []

    async def slow(ctx: dict[str, Any], *, n: int) -> int:
        runs.append(ctx["job_try"])
        await release.wait()
        return n * 2

    try:
        async with worker_in_process(settings, {"slow": slow}):
            async with job_queue(redis.url, prefix) as queue:
                await queue.enqueue("slow", job_id="slow-1", n=21)
            while not runs:
                await asyncio.sleep(0.02)
            await redis.stop()
            release.set()  # the job ends while Redis is down
            await asyncio.sleep(1.0)
            await redis.start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            while (result := await job_result(redis.url, prefix, "slow-1")) is None:
                assert loop.time() < deadline, "the job's outcome was never recorded"
                await asyncio.sleep(0.05)
    finally:
        await redis.stop()
    assert (result.success, result.result) == (True, 42)
    assert runs == ([1] if outage == "short" else [1, 2])


async def test_only_dead_processes_work_directories_are_removed(tmp: Path) -> None:
    """What a new worker removes at start: a dead process's run directories, not a live one's
    (this one's included)."""
    live = await asyncio.create_subprocess_exec("sleep", "30")
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    try:
        start, ids = workdirs.process_start, [uuid.uuid4() for _ in range(5)]
        names = [
            f"{workdirs.PREFIX}{live.pid}-{start(live.pid)}-{ids[0]}-1-abc",
            f"{workdirs.PREFIX}{os.getpid()}-{start(os.getpid())}-{ids[1]}-1-def",  # ours
            f"{workdirs.PREFIX}{dead.pid}-0-{ids[2]}-2-ghi",
            # a predecessor with our pid (a restarted container) or with a live one's
            f"{workdirs.PREFIX}{os.getpid()}-12345-{ids[3]}-3-jkl",
            f"{workdirs.PREFIX}{live.pid}-12345-{ids[4]}-4-mno",
            "watchparty-something-else",
        ]
        for name in names:
            (tmp / name).mkdir()
            (tmp / name / "partial.ts").write_bytes(b"x")
        removed = workdirs.remove_stale_work_directories(tmp)
        assert sorted(p.name for p in removed) == sorted(names[2:5])
        assert sorted(p.name for p in tmp.iterdir()) == sorted([*names[:2], names[5]])
        assert {workdirs.dead_run(p) for p in removed} == {
            workdirs.DeadRun(ids[2], 2),
            workdirs.DeadRun(ids[3], 3),
            workdirs.DeadRun(ids[4], 4),
        }
    finally:
        live.kill()
        await live.wait()


async def test_a_dead_workers_job_runs_again_when_its_lease_lapses(
    pg_url: str, redis_server: RedisServer, tmp: Path
) -> None:
    """A worker that stops renewing (it died) loses its jobs' in-progress locks within the lease
    (1 s here, a minute by default), not the longest job timeout later (6 h)."""
    redis = redis_server
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp, redis_url=redis.url)
    prefix = settings.redis_key_prefix
    release = asyncio.Event()
    runs: list[int] = []

    async def slow(ctx: dict[str, Any], *, n: int) -> int:
        runs.append(ctx["job_try"])
        if ctx["job_try"] == 1:
            await release.wait()  # the dead worker's run never ends
        return n * 2

    functions: dict[str, JobFunction] = {"slow": slow}
    options = {"handle_signals": False, "poll_delay": 0.05, "job_lease_seconds": 1.0}
    dead = create_worker(settings, functions=functions, **options)
    dead_task = asyncio.create_task(dead.async_run())
    try:
        async with job_queue(redis.url, prefix) as queue:
            await queue.enqueue("slow", job_id="slow-lease", n=21)
        while not runs:
            await asyncio.sleep(0.02)
        dead_task.cancel()  # its poll loop (and lease renewal) stops; the job hangs on
        await asyncio.gather(dead_task, return_exceptions=True)
        async with worker_in_process(settings, functions, job_lease_seconds=1.0):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while (result := await job_result(redis.url, prefix, "slow-lease")) is None:
                assert loop.time() < deadline, f"the job did not run again: {runs}"
                await asyncio.sleep(0.05)
    finally:
        release.set()
        await dead.close()
    assert (result.success, result.result, result.job_try) == (True, 42, 2)
    assert runs == [1, 2]
