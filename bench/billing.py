"""Stripe webhooks: ingest rate and the time from a webhook to the user's socket.

    .venv/bin/python bench/billing.py                        # 2,000 events, 16 at a time, 20 rounds
    .venv/bin/python bench/billing.py --events 5000 --concurrency 32 --rounds 50

A scratch PostgreSQL database and Redis key prefix (`common.Stack`), one `watchparty serve`
process, one `watchparty worker` process, and the tests' Stripe API stand-in
(`tests/stripe_standin.py`, in a thread of this process) as STRIPE_API_BASE. Deliveries are
signed like Stripe's (`Stripe-Signature: t=...,v1=...`).

Printed:
- ingest: `--events` distinct signed deliveries (a type nobody handles, so the worker only marks
  them IGNORED) posted `--concurrency` at a time: events per second answered 200 (each answer
  means verified and committed in the inbox), latency p50 / p99 / max;
- to the socket: `--rounds` times, Stripe's subscription switches plan (the stand-in's state)
  and a `customer.subscription.updated` is posted; timed from the POST until the user's
  `notificationEvents` socket gets the SUBSCRIPTION_CHANGED entry (inbox, ARQ job, GET
  /v1/subscriptions/:id, the subscription row, the notification, the stream), p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import websockets
from common import BIN, Stack, log, percentile, seed_accounts, stop_on_sigterm, watchparty_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' Stripe stand-in

SECRET = "whsec_bench_0123456789abcdef"
PRICES = {"PLUS": "price_plus_month", "PREMIUM": "price_premium_month"}
NAMES = {"PLUS": "Plus", "PREMIUM": "Premium"}
SUBSCRIPTION = """subscription { notificationEvents { event { __typename
  ... on NotificationAdded { notification { kind body } }
  ... on NotificationUpdated { notification { kind body } } } } }"""


class Socket:
    """The user's `notificationEvents`; each SUBSCRIPTION_CHANGED body with its arrival."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.ready = asyncio.Event()
        self.changes: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    async def run(self) -> None:
        async with websockets.connect(self.url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
            await ws.send(json.dumps(subscribe))
            async for raw in ws:
                now = time.monotonic()
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                if message.get("type") != "next":
                    continue
                item = message["payload"]["data"]["notificationEvents"]["event"]
                if item["__typename"] == "NotificationSnapshot":
                    self.ready.set()
                elif (item.get("notification") or {}).get("kind") == "SUBSCRIPTION_CHANGED":
                    await self.changes.put((item["notification"]["body"], now))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    stop_on_sigterm()

    from tests.stripe_standin import StripeStandIn, event, signature_header, subscription
    from watchparty.billing.models import BillingCustomer
    from watchparty.db import create_engine, create_sessionmaker

    standin = StripeStandIn()
    standin.start()
    stack = await Stack.create(
        "postgres",
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_BASE=standin.url,
        STRIPE_PRICE_PLUS_MONTHLY=PRICES["PLUS"],
        STRIPE_PRICE_PREMIUM_MONTHLY=PRICES["PREMIUM"],
    )
    worker: asyncio.subprocess.Process | None = None
    server = watchparty_server(stack, "api")
    try:
        [account] = await seed_accounts(stack, 1, "payer")
        customer = f"cus_bench_{uuid.uuid4().hex[:8]}"
        standin.customers[customer] = {"id": customer, "object": "customer"}
        engine = create_engine(stack.settings().database_url)
        async with create_sessionmaker(engine)() as session:
            session.add(BillingCustomer(user_id=account.user_id, stripe_customer_id=customer))
            await session.commit()
        await engine.dispose()
        log_file = (stack.workdir / "worker.log").open("wb")
        worker = await asyncio.create_subprocess_exec(
            str(BIN / "watchparty"), "worker", env=stack.env, cwd=stack.workdir,
            stdout=log_file, stderr=log_file,
        )  # fmt: skip
        await server.start()
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as http:

            async def post(body: str) -> float:
                started = time.monotonic()
                response = await http.post(
                    "/webhooks/stripe",
                    content=body.encode(),
                    headers={"stripe-signature": signature_header(body, SECRET)},
                )
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                return time.monotonic() - started

            # -- ingest ------------------------------------------------------------------------
            bodies = [event("bench.ingest", {"n": n}) for n in range(args.events)]
            for _ in range(50):  # warm up (connections, caches)
                await post(event("bench.warmup", {}))
            queue = list(bodies)
            latencies: list[float] = []

            async def lane() -> None:
                while queue:
                    latencies.append(await post(queue.pop()))

            log(f"posting {args.events} deliveries, {args.concurrency} at a time")
            started = time.monotonic()
            await asyncio.gather(*(lane() for _ in range(args.concurrency)))
            wall = time.monotonic() - started
            print(f"ingest: {args.events} deliveries, {args.concurrency} concurrent (PostgreSQL)")
            print(f"  answered 200 per second  {args.events / wall:8.0f}")
            print(
                f"  latency p50 / p99 / max  {percentile(latencies, 50) * 1000:.1f} / "
                f"{percentile(latencies, 99) * 1000:.1f} / {max(latencies) * 1000:.1f} ms"
            )

            # -- webhook -> socket --------------------------------------------------------------
            socket = Socket(server.ws_url, account.token)
            task = asyncio.create_task(socket.run())
            await asyncio.wait_for(socket.ready.wait(), 30)
            sub_id = f"sub_bench_{uuid.uuid4().hex[:8]}"
            delays: list[float] = []
            for round_ in range(args.rounds + 1):  # round 0 warms up
                plan = "PREMIUM" if round_ % 2 else "PLUS"
                state = subscription(sub_id, customer, PRICES[plan], "active")
                standin.subscriptions[sub_id] = state
                kind = (
                    "customer.subscription.created"
                    if round_ == 0
                    else ("customer.subscription.updated")
                )
                sent = time.monotonic()
                await post(event(kind, state))
                body, arrived = await asyncio.wait_for(socket.changes.get(), 60)
                if body != f"You are now on {NAMES[plan]}.":
                    raise RuntimeError(f"round {round_}: {body!r}")
                if round_:
                    delays.append(arrived - sent)
            task.cancel()
            print(f"webhook -> SUBSCRIPTION_CHANGED on the user's socket ({args.rounds} rounds):")
            print(
                f"  p50 / p99 / max          {percentile(delays, 50) * 1000:.1f} / "
                f"{percentile(delays, 99) * 1000:.1f} / {max(delays) * 1000:.1f} ms"
            )
    finally:
        await server.stop()
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        await stack.close()
        standin.stop()


if __name__ == "__main__":
    asyncio.run(main())
