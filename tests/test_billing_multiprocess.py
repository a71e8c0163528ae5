"""The same Stripe event delivered at the same moment to two real `watchparty serve` processes
(one PostgreSQL, one Redis) is one inbox row and is processed once, by a `watchparty worker`."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from sqlalchemy import func, select

from tests.billing_ops import SECRET, billing_settings, checkout
from tests.stripe_standin import StripeStandIn, event, invoice, signature_header
from tests.support import REDIS_URL
from tests.test_multiprocess_party import WATCHPARTY, two_processes
from watchparty.billing.models import BillingCustomer, InboxStatus, StripeEvent
from watchparty.db import create_engine, create_sessionmaker

EVENTS = 10
COUNT = """query { notifications(first: 50) { totalCount edges { node { kind body } } } }"""


async def test_concurrent_duplicates_on_two_processes_are_processed_once(
    pg_url: str, tmp_path: Path, stripe_standin: StripeStandIn
) -> None:
    extra = {k.upper(): str(v) for k, v in billing_settings(stripe_standin).items()}
    engine = create_engine(pg_url, pool_size=2)
    sessions = create_sessionmaker(engine)
    worker: asyncio.subprocess.Process | None = None
    try:
        async with two_processes(pg_url, REDIS_URL, tmp_path, extra) as (one, two):
            alice = await one.register(display_name="Alice")
            token, user_id = alice["accessToken"], alice["user"]["id"]
            assert (await checkout(two, token))["__typename"] == "CheckoutSessionPayload"
            async with sessions() as session:
                customer = await session.scalar(
                    select(BillingCustomer.stripe_customer_id).where(
                        BillingCustomer.user_id == uuid.UUID(user_id)
                    )
                )
            assert customer is not None
            bodies = [
                event("invoice.paid", invoice(f"in_mp_{n}", customer, None, paid=100 + n))
                for n in range(EVENTS)
            ]

            async def post(server: object, body: str) -> tuple[int, bool]:
                response = await server.http.post(  # type: ignore[attr-defined]
                    "/webhooks/stripe",
                    content=body.encode(),
                    headers={"stripe-signature": signature_header(body, SECRET)},
                )
                return response.status_code, response.json()["duplicate"]

            for body in bodies:
                answers = await asyncio.gather(post(one, body), post(two, body))
                assert sorted(answers) == [(200, False), (200, True)], answers
            ids = [json.loads(body)["id"] for body in bodies]
            async with sessions() as session:
                stored = await session.scalar(
                    select(func.count()).select_from(StripeEvent).where(StripeEvent.id.in_(ids))
                )
            assert stored == EVENTS

            # A worker processes them (and each delivery enqueued at most one job).
            with (tmp_path / "worker.log").open("wb") as sink:
                worker = await asyncio.create_subprocess_exec(
                    str(WATCHPARTY), "worker", cwd=tmp_path, env=one.env,
                    stdout=sink, stderr=sink,
                )  # fmt: skip
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                async with sessions() as session:
                    done = await session.scalar(
                        select(func.count())
                        .select_from(StripeEvent)
                        .where(
                            StripeEvent.id.in_(ids),
                            StripeEvent.status == InboxStatus.PROCESSED,
                        )
                    )
                if done == EVENTS:
                    break
                assert asyncio.get_running_loop().time() < deadline, (
                    tmp_path / "worker.log"
                ).read_text()
                await asyncio.sleep(0.2)
            # Delivered again after processing: still one row, nothing processed again.
            again = await asyncio.gather(post(one, bodies[0]), post(two, bodies[0]))
            assert again == [(200, True), (200, True)]
            await asyncio.sleep(1.0)
            feed = (await one.gql(COUNT, token=token)).data["notifications"]
            paid = sorted(
                edge["node"]["body"]
                for edge in feed["edges"]
                if edge["node"]["kind"] == "PAYMENT_SUCCEEDED"
            )
            assert paid == sorted(
                f"Thank you: ${(100 + n) / 100:.2f} was paid." for n in range(EVENTS)
            )
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 30)
        await engine.dispose()
