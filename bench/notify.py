"""Notifications at scale: one event to 10,000 recipients on PostgreSQL, and the live stream's
delivery latency for one user with 3 open sockets.

    .venv/bin/python bench/notify.py                         # 10,000 recipients, 30 singles
    .venv/bin/python bench/notify.py --recipients 2000 --singles 50
    .venv/bin/python bench/notify.py --push                  # + one device each, a worker, FCM

A scratch PostgreSQL database and Redis key prefix (`common.Stack`), one `watchparty serve`
process (the sockets' server), and in this process the producer: `notifications.service.notify`
in one unit of work, as a job or mutation calls it. Accounts are inserted straight into the
database (registering 10,000 through the API would cost 10,000 Argon2 hashes).

Printed:
- fan-out: wall time of `notify` to N recipients + commit (rows written, events appended), the
  SQL statements it ran in all and per batch of `NOTIFY_BATCH` recipients (constant means the
  cost per batch does not grow with the recipients), and the time from commit until the
  watcher (the last recipient) has the entry on each of its 3 sockets;
- single: `--singles` one-recipient notifications to the watcher, each timed from commit to
  its arrival on each of the 3 sockets (p50 / p99 / max, milliseconds).
- with `--push`: every recipient has one registered device, a `watchparty worker` process runs
  the push jobs against the loopback FCM stand-in of the tests (`tests/fcm_standin.py`, in a
  thread of this process): the time from commit until FCM has every push, and pushes per
  second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import websockets
from common import (
    BIN,
    Stack,
    log,
    percentile,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)
from sqlalchemy import event, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' FCM stand-in

SUBSCRIPTION = """subscription { notificationEvents { cursor event { __typename
  ... on NotificationAdded { notification { id title } } } } }"""


async def insert_users(stack: Stack, count: int) -> list[uuid.UUID]:
    from watchparty.accounts.models import User
    from watchparty.db import create_engine

    engine = create_engine(stack.settings().database_url)
    ids = [uuid.uuid4() for _ in range(count)]
    try:
        async with engine.begin() as connection:
            for start in range(0, count, 2000):
                rows = [
                    {
                        "id": user_id,
                        "email": f"notify-{user_id.hex}@example.com",
                        "display_name": f"Viewer {start + index}",
                        "is_active": True,
                    }
                    for index, user_id in enumerate(ids[start : start + 2000])
                ]
                await connection.execute(insert(User), rows)
    finally:
        await engine.dispose()
    return ids


async def insert_devices(stack: Stack, user_ids: list[uuid.UUID]) -> None:
    from watchparty.db import create_engine
    from watchparty.notifications.models import PushDevice, PushPlatform

    engine = create_engine(stack.settings().database_url)
    try:
        async with engine.begin() as connection:
            for start in range(0, len(user_ids), 2000):
                rows = [
                    {
                        "id": uuid.uuid4(),
                        "user_id": user_id,
                        "token": f"bench{user_id.hex}:APA91b{uuid.uuid4().hex}",
                        "platform": PushPlatform.ANDROID,
                    }
                    for user_id in user_ids[start : start + 2000]
                ]
                await connection.execute(insert(PushDevice), rows)
    finally:
        await engine.dispose()


class Socket:
    """One graphql-transport-ws connection following `notificationEvents`; records when each
    NotificationAdded title arrives (time.monotonic)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.arrivals: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.waiters: dict[str, asyncio.Event] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with websockets.connect(self.url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {self.token}"},
                    }
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
            )
            async for raw in ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message.get("type") != "next":
                    continue
                item = message["payload"]["data"]["notificationEvents"]["event"]
                if item["__typename"] == "NotificationSnapshot":
                    self.ready.set()
                elif item["__typename"] == "NotificationAdded":
                    title = item["notification"]["title"]
                    self.arrivals[title] = now
                    self.waiters.setdefault(title, asyncio.Event()).set()

    async def arrival(self, name: str, timeout: float = 60.0) -> float:
        title = f"{name} has started"
        waiter = self.waiters.setdefault(title, asyncio.Event())
        await asyncio.wait_for(waiter.wait(), timeout)
        return self.arrivals[title]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=30)
    parser.add_argument("--push", action="store_true", help="devices, a worker and FCM too")
    parser.add_argument("--push-timeout", type=float, default=300.0)
    parser.add_argument("--verbose", action="store_true", help="print the worker's log tail")
    args = parser.parse_args()
    stop_on_sigterm()
    fcm: Any = None
    extra_env: dict[str, str] = {}
    if args.push:
        from tests.fcm_standin import FcmStandIn

        fcm = FcmStandIn()
        fcm.start()
        extra_env = {
            "FIREBASE_CREDENTIALS": json.dumps(fcm.service_account()[0]),
            "FIREBASE_FCM_URL": fcm.url,
            "FRONTEND_URL": "https://app.watchparty.test",
        }

    from watchparty.notifications import service
    from watchparty.notifications.models import NotificationKind
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    stack = await Stack.create("postgres", **extra_env)
    worker: asyncio.subprocess.Process | None = None
    try:
        log(f"inserting {args.recipients} accounts")
        recipients = await insert_users(stack, args.recipients)
        [watcher] = await seed_accounts(stack, 1, "watcher")
        if args.push:
            await insert_devices(stack, recipients)
            log_file = (stack.workdir / "worker.log").open("wb")
            worker = await asyncio.create_subprocess_exec(
                str(BIN / "watchparty"), "worker", env=stack.env, cwd=stack.workdir,
                stdout=log_file, stderr=log_file,
            )  # fmt: skip
        server = watchparty_server(stack, "api")
        await server.start()
        try:
            sockets = [Socket(server.ws_url, watcher.token) for _ in range(3)]
            for socket in sockets:
                socket.task = asyncio.create_task(socket.run())
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in sockets)), 30)
            settings = stack.settings()
            async with build_state(settings, functions=job_functions(), periodics=[]) as state:
                statements = 0

                def count(*_: Any) -> None:
                    nonlocal statements
                    statements += 1

                event.listen(state.engine.sync_engine, "before_cursor_execute", count)

                async def send(to: list[uuid.UUID], title: str) -> tuple[float, float]:
                    """Started and committed (perf_counter): the first after-commit callback
                    marks the commit, before the events are announced."""
                    nonlocal statements
                    statements = 0
                    started = time.monotonic()
                    committed = 0.0

                    async def mark() -> None:
                        nonlocal committed
                        committed = time.monotonic()

                    async with state.unit_of_work() as uow:
                        uow.after_commit(mark)
                        await service.notify(
                            uow,
                            to,
                            # "<title> has started": a kind whose push is on by default.
                            NotificationKind.PARTY_STARTED,
                            data={"partyTitle": title, "partyId": "bench"},
                        )
                    return started, committed

                # Warm up (connections, caches) with one single.
                _, committed = await send([watcher.user_id], "warm-up")
                await asyncio.gather(*(s.arrival("warm-up") for s in sockets))

                everyone = [*recipients, watcher.user_id]
                started, committed = await send(everyone, "fan-out")
                fan_statements = statements
                arrivals = await asyncio.gather(*(s.arrival("fan-out") for s in sockets))
                batches = -(-len(everyone) // service.NOTIFY_BATCH)
                print(f"fan-out to {len(everyone)} recipients (PostgreSQL, one unit of work):")
                print(f"  notify + commit        {committed - started:8.2f} s")
                print(
                    f"  SQL statements         {fan_statements:8d} "
                    f"({fan_statements / batches:.1f} per batch of {service.NOTIFY_BATCH})"
                )
                print(f"  rows per second        {len(everyone) / (committed - started):8.0f}")
                print(
                    "  commit -> watcher's 3 sockets: "
                    + ", ".join(f"{(a - committed) * 1000:.1f} ms" for a in arrivals)
                )
                if fcm is not None:
                    wanted = len(recipients)
                    deadline = time.monotonic() + args.push_timeout
                    while len(fcm.sends) < wanted and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    times = [record.at for record in fcm.sends]
                    worker_log = (stack.workdir / "worker.log").read_text(errors="replace")
                    retried = worker_log.count("retrying those pushes")
                    print(f"  worker: {retried} push runs retried (FCM refused or timed out)")
                    if args.verbose:
                        print(worker_log[-4000:])
                    if not times:
                        log_path = stack.workdir / "worker.log"
                        raise RuntimeError(f"no push reached FCM:\n{log_path.read_text()[-3000:]}")
                    print(
                        f"  commit -> FCM has {len(times)}/{wanted} pushes  "
                        f"{max(times) - committed:6.2f} s (first after "
                        f"{min(times) - committed:.2f} s; "
                        f"{len(times) / (max(times) - min(times)):.0f} pushes/s while sending)"
                    )

                small_statements = []
                latencies: list[float] = []
                for index in range(args.singles):
                    title = f"single-{index}"
                    _, committed = await send([watcher.user_id], title)
                    small_statements.append(statements)
                    arrivals = await asyncio.gather(*(s.arrival(title) for s in sockets))
                    latencies += [(a - committed) * 1000 for a in arrivals]
                print(f"single recipient x {args.singles}, 3 sockets ({len(latencies)} arrivals):")
                print(
                    f"  commit -> socket       p50 {percentile(latencies, 50):.1f} ms, "
                    f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms"
                )
                print(f"  SQL statements         {small_statements[0]} per notify")
        finally:
            for socket in sockets:
                if socket.task is not None:
                    socket.task.cancel()
            await server.stop()
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        if fcm is not None:
            with contextlib.suppress(Exception):
                fcm.stop()
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
