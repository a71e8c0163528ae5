"""Jobs: enqueued only after commit, JSON in Redis, run by the real ARQ worker or in-process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.worker import Retry
from redis.asyncio import Redis

from tests.support import Api, make_settings, running_app, unique_email
from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.jobs import (
    ArqJobQueue,
    InProcessJobQueue,
    Periodic,
    enqueue_after_commit,
    queue_name,
)
from watchparty.mail import send_email
from watchparty.registry import job_functions
from watchparty.worker import create_worker, cron_jobs, retrying, worker_functions


def job_keys(queue: ArqJobQueue, job_id: str) -> tuple[bytes, bytes]:
    arq_id, prefix = queue.arq_job_id(job_id), queue.id_prefix
    return f"{prefix}arq:job:{arq_id}".encode(), f"{prefix}arq:result:{arq_id}".encode()


async def wait_for_key(redis: Redis, key: bytes, timeout: float = 10.0) -> bytes:
    deadline = asyncio.get_running_loop().time() + timeout
    while (raw := await redis.get(key)) is None:
        assert asyncio.get_running_loop().time() < deadline, f"{key!r} never appeared"
        await asyncio.sleep(0.05)
    return bytes(raw)


def mail(to: str, body: str) -> dict[str, str]:
    return {"to": to, "subject": "Job test", "body": body, "kind": "test"}


# --- production stack: PostgreSQL + Redis + the real ARQ worker -----------------------------


async def test_job_runs_in_the_worker_only_after_the_commit(api: Api) -> None:
    queue = api.state.jobs
    assert isinstance(queue, ArqJobQueue)
    redis = api.state.redis
    assert redis is not None
    to, job_id = unique_email("after-commit"), f"test-{uuid.uuid4().hex}"
    job_key, result_key = job_keys(queue, job_id)

    async with api.state.unit_of_work() as uow:
        enqueue_after_commit(uow, queue, "send_email", job_id=job_id, **mail(to, "committed"))
        # Registered, but nothing reached Redis while the transaction is open.
        assert await redis.exists(job_key, result_key) == 0

    emails = await api.emails(to)
    assert [(m["subject"], m["body"], m["kind"]) for m in emails] == [
        ("Job test", "committed", "test")
    ]
    result = json.loads(await wait_for_key(redis, result_key))  # the worker stored JSON
    assert (result["f"], result["s"], result["t"], result["k"]) == (
        "send_email",
        True,
        1,
        mail(to, "committed"),
    )
    assert result["q"] == queue_name(api.settings)


async def test_rolled_back_unit_of_work_never_enqueues(api: Api) -> None:
    queue = api.state.jobs
    assert isinstance(queue, ArqJobQueue)
    redis = api.state.redis
    assert redis is not None
    to, job_id = unique_email("rollback"), f"test-{uuid.uuid4().hex}"

    with pytest.raises(RuntimeError, match="boom"):
        async with api.state.unit_of_work() as uow:
            uow.session.add(User(email=to, display_name="Rolled Back"))
            await uow.session.flush()
            enqueue_after_commit(uow, queue, "send_email", job_id=job_id, **mail(to, "never"))
            raise RuntimeError("boom")

    # ARQ keeps a job key while queued/running and a result key after it ran: neither exists,
    # so the job was never enqueued (no waiting on an absence needed).
    assert await redis.exists(*job_keys(queue, job_id)) == 0
    assert await redis.zscore(queue_name(api.settings), queue.arq_job_id(job_id)) is None
    async with api.state.sessionmaker() as session:
        assert await find_user_by_email(session, to) is None


@pytest.fixture
async def idle_app(pg_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The production stack with no worker consuming its queue (own key prefix)."""
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path)
    async with running_app(settings, worker=False) as client:
        try:
            yield client
        finally:
            redis = client.state.redis
            assert redis is not None
            prefix = settings.redis_key_prefix
            async for key in redis.scan_iter(match=f"*{prefix}*"):
                await redis.delete(key)


async def run_worker_until_idle(app: Api, **options: Any) -> None:
    worker = create_worker(
        app.settings, handle_signals=False, poll_delay=0.05, burst=True, **options
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def test_job_arguments_are_stored_as_json_not_pickle(idle_app: Api) -> None:
    queue = idle_app.state.jobs
    assert isinstance(queue, ArqJobQueue)
    redis = idle_app.state.redis
    assert redis is not None
    to, job_id = unique_email("json"), f"test-{uuid.uuid4().hex}"
    job_key, _ = job_keys(queue, job_id)

    async with idle_app.state.unit_of_work() as uow:
        enqueue_after_commit(uow, queue, "send_email", job_id=job_id, **mail(to, "as JSON"))

    raw = await redis.get(job_key)
    assert raw is not None and raw[:1] == b"{"  # a pickle would start with b"\x80"
    stored = json.loads(raw)
    assert set(stored) == {"t", "f", "a", "k", "et"}
    assert (stored["f"], stored["a"], stored["k"]) == ("send_email", [], mail(to, "as JSON"))

    await run_worker_until_idle(idle_app)
    emails = await idle_app.emails(to)
    assert [m["body"] for m in emails] == ["as JSON"]


async def test_deterministic_job_id_enqueues_once(idle_app: Api) -> None:
    queue = idle_app.state.jobs
    assert isinstance(queue, ArqJobQueue)
    redis = idle_app.state.redis
    assert redis is not None
    to, job_id = unique_email("dedupe"), f"test-{uuid.uuid4().hex}"

    assert await queue.enqueue("send_email", job_id=job_id, **mail(to, "first")) is True
    assert await queue.enqueue("send_email", job_id=job_id, **mail(to, "second")) is False
    assert await redis.zcard(queue_name(idle_app.settings)) == 1

    await run_worker_until_idle(idle_app)
    assert [m["body"] for m in await idle_app.emails(to)] == ["first"]
    # The kept result still blocks the id: the same mail is not sent twice on a retried enqueue.
    assert await queue.enqueue("send_email", job_id=job_id, **mail(to, "third")) is False


async def test_every_key_a_job_run_writes_is_under_the_prefix(idle_app: Api) -> None:
    """A mail (own id), a host failover check (no id, as failover.py enqueues it) and a cron
    tick, run by a worker: every key they leave in the shared Redis is under the app's
    REDIS_KEY_PREFIX (ARQ's job, result, in-progress and retry keys, queue, health check)."""
    queue, redis = idle_app.state.jobs, idle_app.state.redis
    assert isinstance(queue, ArqJobQueue) and redis is not None
    prefix = idle_app.settings.redis_key_prefix
    run = prefix.rstrip(":")  # the test run's unique part ("wptest-<hex>")
    ticks: list[str | None] = []

    async def tick(ctx: dict[str, Any]) -> None:
        ticks.append(ctx["job_id"])

    to = unique_email("prefix")
    mail_id = f"mail-{uuid.uuid4().hex}"
    assert await queue.enqueue(
        "send_email", job_id=mail_id, to=to, subject="Job test", body="x", kind="test"
    )
    assert await queue.enqueue(
        "host_failover_check", party_id=str(uuid.uuid4()), host_id=str(uuid.uuid4())
    )
    worker = create_worker(
        idle_app.settings,
        handle_signals=False,
        poll_delay=0.05,
        cron_jobs=cron_jobs([Periodic(tick, 1)], prefix=prefix),
    )
    running = asyncio.create_task(worker.async_run())
    try:
        assert [m["body"] for m in await idle_app.emails(to)] == ["x"]
        deadline = asyncio.get_running_loop().time() + 10
        while not ticks:
            assert asyncio.get_running_loop().time() < deadline, "the cron job never ran"
            await asyncio.sleep(0.05)
        # Results are recorded after the job returns (a cron tick keeps its in-progress key
        # instead, against running twice): wait for all three.
        tick_lock = f"{prefix}arq:in-progress:{ticks[0]}"
        while True:
            keys = {k.decode() async for k in redis.scan_iter(match=f"*{run}*", count=1000)}
            results = [k for k in keys if k.startswith(f"{prefix}arq:result:")]
            functions = {json.loads(await redis.get(k) or b"{}").get("f") for k in results}
            if {"send_email", "host_failover_check"} <= functions and tick_lock in keys:
                break
            assert asyncio.get_running_loop().time() < deadline, (functions, keys)
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await worker.close()

    assert ticks[0] is not None and ticks[0].startswith(f"{prefix}tick:")
    assert sorted(k for k in keys if not k.startswith(prefix)) == []
    kinds = {k[len(prefix) :].split(":")[1] for k in keys if k.startswith(f"{prefix}arq:")}
    assert {"result", "in-progress", "health-check"} <= kinds, kinds
    # Nothing of this run is under ARQ's own names (`arq:job:<prefix>...`, the old layout).
    assert [k async for k in redis.scan_iter(match=f"arq:*{run}*", count=1000)] == []


async def test_failing_job_is_retried_by_the_worker(idle_app: Api) -> None:
    redis = idle_app.state.redis
    assert redis is not None
    tries: list[int] = []

    async def flaky(ctx: dict[str, Any], *, marker: str) -> str:
        tries.append(ctx["job_try"])
        if ctx["job_try"] == 1:
            raise ConnectionError("transient")
        return marker

    queue = idle_app.state.jobs
    assert await queue.enqueue("flaky", job_id="flaky-1", marker="done") is True
    await run_worker_until_idle(idle_app, functions={"flaky": flaky})

    assert tries == [1, 2]
    assert isinstance(queue, ArqJobQueue)
    result = json.loads(await wait_for_key(redis, job_keys(queue, "flaky-1")[1]))
    assert (result["s"], result["r"], result["t"]) == (True, "done", 2)


async def test_retrying_gives_up_on_the_last_try() -> None:
    async def broken(ctx: dict[str, Any]) -> None:
        raise ValueError("always")

    job = retrying(broken, max_tries=3)
    with pytest.raises(Retry):
        await job({"job_try": 2, "job_id": "x"})
    with pytest.raises(ValueError, match="always"):
        await job({"job_try": 3, "job_id": "x"})


async def test_non_json_arguments_are_refused_at_enqueue(any_api: Api) -> None:
    async with any_api.state.unit_of_work() as uow:
        with pytest.raises(TypeError, match="JSON"):
            enqueue_after_commit(uow, any_api.state.jobs, "send_email", to=object())
    with pytest.raises(TypeError, match="JSON"):
        await any_api.state.jobs.enqueue("send_email", to={1, 2})


# --- embedded stack: the same functions, in-process ----------------------------------------


async def test_embedded_queue_runs_the_same_job_functions(api_embedded: Api) -> None:
    queue = api_embedded.state.jobs
    assert isinstance(queue, InProcessJobQueue)
    assert queue.functions == job_functions()
    assert queue.functions["send_email"] is send_email
    assert [f.name for f in worker_functions()] == list(job_functions())

    to, job_id = unique_email("embedded"), f"test-{uuid.uuid4().hex}"
    async with api_embedded.state.unit_of_work() as uow:
        enqueue_after_commit(uow, queue, "send_email", job_id=job_id, **mail(to, "in-process"))
        enqueue_after_commit(uow, queue, "send_email", job_id=job_id, **mail(to, "duplicate"))
    assert [m["body"] for m in await api_embedded.emails(to)] == ["in-process"]
    await api_embedded.drain_jobs()
    assert [m["body"] for m in await api_embedded.emails(to, timeout=0)] == ["in-process"]


async def test_embedded_rollback_runs_no_job(api_embedded: Api) -> None:
    to = unique_email("embedded-rollback")
    with pytest.raises(RuntimeError):
        async with api_embedded.state.unit_of_work() as uow:
            enqueue_after_commit(uow, api_embedded.state.jobs, "send_email", **mail(to, "never"))
            raise RuntimeError("boom")
    await api_embedded.drain_jobs()  # every job ever started has finished
    assert await api_embedded.emails(to, timeout=0) == []


def test_periodic_jobs_become_unique_arq_cron_jobs() -> None:
    jobs = {job.name: job for job in cron_jobs()}
    assert set(jobs) == {
        "trim_event_logs",
        "sweep_presence",
        "sweep_stale_processing",
        "send_due_emails",
        "send_due_pushes",
        "send_daily_digests",
        "purge_notifications",
        "sweep_party_reminders",
        "sweep_stripe_events",
        "drain_analytics_events",
        "analytics_partitions",
        "aggregate_analytics",
        "purge_analytics_exports",
        "drain_search_outbox",
        "sweep_search_index",
    }
    every_minute_jobs = (
        "trim_event_logs",
        "sweep_party_reminders",
        "send_due_pushes",
        "sweep_stripe_events",
        "aggregate_analytics",
    )
    for every_minute in every_minute_jobs:
        job = jobs[every_minute]
        assert job.second == 0 and job.minute is None  # every minute, at :00
    assert jobs["sweep_presence"].second == {0, 10, 20, 30, 40, 50}
    assert jobs["drain_analytics_events"].second == set(range(60))  # every second
    partitions = jobs["analytics_partitions"]
    assert partitions.second == 0 and partitions.minute == {0}  # hourly
    digests = jobs["send_daily_digests"]
    assert digests.second == 0 and digests.minute == set(range(0, 60, 5))  # every 5 minutes
    assert all(job.unique for job in jobs.values())  # one worker runs each tick
