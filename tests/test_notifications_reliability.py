"""Notifications when things fail, with real processes: a `watchparty worker` subprocess
SIGKILLed in the middle of a push batch, and a private redis-server frozen (SIGSTOP), killed
and restarted empty under a mutation that notifies. The FCM and OAuth endpoints are the
loopback stand-ins of `tests/fcm_standin.py`; the database is PostgreSQL.

What is asserted is what README's "When things fail" says: the feed and the stream never lose
an entry; a (notification, device) pair reaches FCM at most once; pushes that were never
claimed are sent after a crash; pushes whose job was lost are found by `send_due_pushes` and
emails by `send_due_emails`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from tests.fcm_standin import FcmStandIn
from tests.notifications_ops import feed, notify, stream
from tests.parties_ops import Person, create_party, join, person
from tests.redis_server import RedisServer
from tests.support import RELAXED_LIMITS, Api, live_server, make_settings, running_app
from tests.test_multiprocess_party import WATCHPARTY
from tests.test_notifications_email import verified
from tests.test_notifications_push import FRONTEND, new_token, register
from watchparty.kit.time import utcnow
from watchparty.notifications.email import send_due_emails
from watchparty.notifications.models import Notification, PushDelivery, PushDevice
from watchparty.notifications.push import send_due_pushes
from watchparty.worker import create_worker

LEASE_SECONDS = 3  # the test worker's job lease: a killed worker's jobs run again after it
BOUND_SECONDS = 20.0  # turns a hang into a failure (never asserted as speed)
ASKED = "Guest asked to join Movie night"


@pytest.fixture(scope="module")
def fcm() -> Any:
    standin = FcmStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="module")
def account(fcm: FcmStandIn) -> tuple[dict[str, str], rsa.RSAPublicKey]:
    return fcm.service_account()


@pytest.fixture
async def app(
    pg_url: str,
    tmp_path: Path,
    redis_server: RedisServer,
    fcm: FcmStandIn,
    account: tuple[dict[str, str], rsa.RSAPublicKey],
) -> AsyncIterator[Api]:
    """An API process on the private Redis with push on and short Redis timeouts, no worker of
    its own (the tests bring theirs)."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        redis_url=redis_server.url,
        redis_socket_timeout_seconds=0.5,
        redis_connect_timeout_seconds=0.5,
        redis_cooldown_seconds=0.5,
        firebase_credentials=json.dumps(account[0]),
        firebase_fcm_url=fcm.url,
        frontend_url=FRONTEND,
    )
    async with running_app(settings, worker=False) as client:
        yield client


class WorkerProcess:
    """One `watchparty worker` subprocess on the app's database, Redis and queue."""

    def __init__(self, api: Api, tmp: Path) -> None:
        settings = api.settings
        assert settings.firebase_credentials and settings.email_outbox_dir
        self.env = {
            **os.environ,
            "APP_ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "AUTO_MIGRATE": "false",
            "DATA_DIR": str(tmp),
            "EMAIL_OUTBOX_DIR": str(settings.email_outbox_dir),
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "WARNING",
            "FIREBASE_CREDENTIALS": settings.firebase_credentials,
            "FIREBASE_FCM_URL": settings.firebase_fcm_url,
            "FRONTEND_URL": settings.frontend_url,
            "WORKER_CONCURRENCY": "1",  # a second batch waits behind the first
            "WORKER_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            **{key.upper(): str(value) for key, value in RELAXED_LIMITS.items()},
        }
        self.tmp = tmp
        self.process: asyncio.subprocess.Process | None = None
        self.log = tmp / f"worker-{uuid.uuid4().hex[:6]}.log"

    async def start(self) -> None:
        with self.log.open("wb") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(WATCHPARTY), "worker", cwd=self.tmp, env=self.env, stdout=sink, stderr=sink
            )

    async def kill(self) -> None:
        """SIGKILL: no shutdown, nothing recorded (a crashed or OOM-killed worker)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


async def run_queue(api: Api) -> None:
    """An ARQ worker in this process until the queue is empty (burst)."""
    worker = create_worker(api.settings, handle_signals=False, poll_delay=0.05, burst=True)
    try:
        await asyncio.wait_for(worker.async_run(), BOUND_SECONDS)
    finally:
        await worker.close()


async def states(api: Api, notification_ids: list[str]) -> dict[tuple[str, str], str]:
    """(notification id, token) -> push_deliveries state."""
    async with api.state.sessionmaker() as session:
        rows = await session.scalars(
            select(PushDelivery).where(
                PushDelivery.notification_id.in_([uuid.UUID(i) for i in notification_ids])
            )
        )
        return {(str(r.notification_id), r.token): r.state.value for r in rows}


async def entries(api: Api, people: list[Person]) -> dict[str, str]:
    """notification id -> recipient id, of these people's notifications."""
    async with api.state.sessionmaker() as session:
        rows = await session.execute(
            select(Notification.id, Notification.recipient_id).where(
                Notification.recipient_id.in_([uuid.UUID(p.id) for p in people])
            )
        )
        return {str(n_id): str(r_id) for n_id, r_id in rows}


def pairs(fcm: FcmStandIn) -> Counter[tuple[str, str]]:
    """How often each (notification id, token) reached FCM."""
    with fcm._lock:
        found = list(fcm.sends)
    return Counter((r.json["message"]["data"]["notificationId"], r.token or "") for r in found)


async def test_a_worker_killed_mid_batch_resumes_without_double_pushes(
    app: Api, fcm: FcmStandIn, tmp_path: Path
) -> None:
    people = [await person(app, f"Viewer {n}") for n in range(10)]
    tokens: dict[str, list[str]] = {}
    for who in people:
        tokens[who.id] = [new_token("crash"), new_token("crash")]
        for token in tokens[who.id]:
            assert (await register(app, who, token))["__typename"] == "RegisterPushTokenPayload"
            fcm.script(token, "HANG")  # the first send to each device hangs, later ones pass
    first = WorkerProcess(app, tmp_path)
    await first.start()
    try:
        # Two batches: the first job's 20 pushes hang in FCM; the second job waits behind it.
        await notify(app, people, data={"partyId": "p1", "messageId": "m1", "excerpt": "One"})
        batch_a = await entries(app, people)
        await notify(app, people, data={"partyId": "p1", "messageId": "m2", "excerpt": "Two"})
        batch_b = {n: r for n, r in (await entries(app, people)).items() if n not in batch_a}
        all_a = {(n, t) for n, r in batch_a.items() for t in tokens[r]}
        await fcm.wait_for(lambda f: all_a <= set(pairs(f)), timeout=BOUND_SECONDS)
        assert await states(app, list(batch_a)) == dict.fromkeys(all_a, "SENDING")
        assert await states(app, list(batch_b)) == {}
        # A device registered after the claim: nobody has claimed its pair of batch A yet.
        late = new_token("late")
        assert (await register(app, people[0], late))["__typename"] == "RegisterPushTokenPayload"
        await first.kill()
        killed_at = time.monotonic()
    finally:
        await first.kill()

    second = WorkerProcess(app, tmp_path)
    await second.start()
    try:
        (first_a,) = [n for n, r in batch_a.items() if r == people[0].id]
        (first_b,) = [n for n, r in batch_b.items() if r == people[0].id]
        late_a = (first_a, late)
        await fcm.wait_for(lambda f: late_a in pairs(f), timeout=BOUND_SECONDS)
        recovered_in = time.monotonic() - killed_at
        expected_b = {(n, t) for n, r in batch_b.items() for t in tokens[r]} | {(first_b, late)}
        await fcm.wait_for(lambda f: expected_b <= set(pairs(f)), timeout=BOUND_SECONDS)
        await asyncio.sleep(1.0)  # anything sent twice would arrive now
        seen = pairs(fcm)
        ours = {key: count for key, count in seen.items() if key[0] in {*batch_a, *batch_b}}
        # Every pair reached FCM once: the 20 in flight at the kill (never again), the late
        # device's pair of the killed job (its re-run), the whole second batch.
        assert ours == dict.fromkeys(all_a | {late_a} | expected_b, 1)
        recorded = await states(app, [*batch_a, *batch_b])
        assert recorded == {
            **dict.fromkeys(all_a, "SENDING"),  # the killed run's claims: at most once
            **dict.fromkeys({late_a} | expected_b, "SENT"),
        }
        # The killed job ran again once its lease lapsed (plus the new worker's start).
        assert recovered_in < LEASE_SECONDS + 15, recovered_in
    finally:
        fcm.release()
        await second.stop()


async def test_a_frozen_redis_delays_but_loses_nothing(
    pg_url: str,
    tmp_path: Path,
    redis_server: RedisServer,
    fcm: FcmStandIn,
    account: tuple[dict[str, str], rsa.RSAPublicKey],
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        redis_url=redis_server.url,
        redis_socket_timeout_seconds=0.5,
        redis_connect_timeout_seconds=0.5,
        redis_cooldown_seconds=0.5,
        firebase_credentials=json.dumps(account[0]),
        firebase_fcm_url=fcm.url,
        frontend_url=FRONTEND,
    )
    async with running_app(settings) as api, live_server(api.app) as base:  # with a worker
        host, host_email = await verified(api, "Host")
        guest = await person(api, "Guest")
        token = new_token("frozen")
        assert (await register(api, host, token))["__typename"] == "RegisterPushTokenPayload"
        party = await create_party(api, host, visibility="PUBLIC", requireApproval=True)
        async with stream(base, host) as live:
            snapshot = await live.next()
            assert snapshot["event"]["unreadCount"] == 0
            redis_server.freeze()
            try:
                asked = await asyncio.wait_for(join(api, guest, partyId=party["id"]), 10)
                assert asked["__typename"] == "JoinPending", asked
                listed = await feed(api, host)
                assert [e["node"]["title"] for e in listed["edges"]] == [ASKED]
                # The socket is on this process: the event needs no Redis to reach it.
                added = await asyncio.wait_for(live.next(), 10)
                assert added["event"]["__typename"] == "NotificationAdded"
                assert added["event"]["notification"]["title"] == ASKED
                assert api.state.jobs.pending >= 1  # the push and email jobs wait in memory
                await asyncio.sleep(1.0)
                assert fcm.sent_to(token) == []
            finally:
                redis_server.thaw()
        # Once Redis answers: pushed once, mailed once, and a reconnect resumes by cursor.
        await fcm.wait_for(lambda f: len(f.sent_to(token)) == 1, timeout=BOUND_SECONDS)
        assert fcm.sent_to(token)[0].json["message"]["notification"]["title"] == ASKED
        mails = await api.emails(host_email, count=2, timeout=BOUND_SECONDS, notifications=True)
        assert [m["subject"] for m in mails if m["kind"] == "notification:JOIN_REQUEST"] == [ASKED]
        async with stream(base, host, after=snapshot["cursor"]) as again:
            resumed = await again.next()
            assert resumed["resync"] is False and resumed["event"]["unreadCount"] == 1
            replayed = await again.next()
            assert replayed["event"]["__typename"] == "NotificationAdded"
            assert replayed["event"]["notification"]["title"] == ASKED
        await asyncio.sleep(0.5)
        assert len(fcm.sent_to(token)) == 1


async def test_jobs_lost_with_redis_are_swept_up(
    app: Api, redis_server: RedisServer, fcm: FcmStandIn
) -> None:
    async with worker_running(app):
        host, host_email = await verified(app, "Host")
    guest = await person(app, "Guest")
    token = new_token("lost")
    assert (await register(app, host, token))["__typename"] == "RegisterPushTokenPayload"
    party = await create_party(app, host, visibility="PUBLIC", requireApproval=True)

    await redis_server.stop()  # down: the mutation still commits and answers
    asked = await asyncio.wait_for(join(app, guest, partyId=party["id"]), 10)
    assert asked["__typename"] == "JoinPending", asked
    assert [e["node"]["title"] for e in (await feed(app, host))["edges"]] == [ASKED]
    await redis_server.start()  # the same port, empty
    for _ in range(100):  # the jobs held in memory reach the new Redis ...
        if app.state.jobs.pending == 0:
            break
        await asyncio.sleep(0.05)
    assert app.state.jobs.pending == 0
    await redis_server.stop()  # ... and are lost with it (no persistence) before a worker ran
    await redis_server.start()
    control = redis_server.client()
    assert await control.zcard(app.settings.redis_key_prefix + "arq:queue") == 0
    await control.aclose()
    # Not the sweep's: a group whose push is off (polls, by default), and an entry older than
    # the only device of its recipient (its job would not have pushed it either).
    poll = {"partyId": party["id"], "partyTitle": "Movie night", "question": "Pizza?"}
    await notify(app, [host], "POLL_OPENED", data=poll)
    newcomer = await person(app, "Newcomer")
    await notify(app, [newcomer], "VIDEO_READY", data={"videoId": "v1", "videoTitle": "Clip"})
    await run_queue(app)  # their jobs: nothing to push (polls off, no device yet)
    newcomer_token = new_token("newcomer")
    assert (await register(app, newcomer, newcomer_token))["__typename"] == (
        "RegisterPushTokenPayload"
    )

    # A minute later (as if): the sweeps find the entry that was neither pushed nor mailed.
    async with app.state.unit_of_work() as uow:
        earlier = utcnow() - timedelta(minutes=2)
        await uow.session.execute(
            update(Notification)
            .where(Notification.recipient_id.in_([uuid.UUID(host.id), uuid.UUID(newcomer.id)]))
            .values(created_at=earlier, updated_at=earlier, email_due_at=earlier)
        )
        await uow.session.execute(
            update(PushDevice)
            .where(PushDevice.token == token)
            .values(created_at=earlier - timedelta(minutes=1))
        )
    ctx = {"state": app.state}
    assert await send_due_pushes(ctx) >= 1
    assert await send_due_emails(ctx) >= 1
    await run_queue(app)
    assert [r.json["message"]["notification"]["title"] for r in fcm.sent_to(token)] == [ASKED]
    mails = await app.emails(host_email, count=2, timeout=5.0, notifications=True)
    assert [m["subject"] for m in mails if m["kind"] == "notification:JOIN_REQUEST"] == [ASKED]
    # Claimed now: sweeping again sends nothing more.
    await send_due_pushes(ctx)
    await send_due_emails(ctx)
    await run_queue(app)
    assert len(fcm.sent_to(token)) == 1
    assert fcm.sent_to(newcomer_token) == []
    assert len(await app.emails(host_email, count=3, timeout=0.5, notifications=True)) == len(mails)


@asynccontextmanager
async def worker_running(api: Api) -> AsyncIterator[None]:
    """An ARQ worker in this process while the block runs."""
    worker = create_worker(api.settings, handle_signals=False, poll_delay=0.05)
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await worker.close()
