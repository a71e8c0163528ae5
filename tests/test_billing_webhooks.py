"""`POST /webhooks/stripe` and the inbox: deliveries signed the way Stripe signs them, checked by
the real `stripe` library; processing on the ARQ worker (PostgreSQL) or in-process (embedded),
reading subscriptions back from the Stripe stand-in. Forged, stale, missing and rotated
signatures; duplicates; out-of-order deliveries; unknown types; a handler failing then
succeeding; the past-due grace period; the notifications each change produces."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.billing_ops import (
    OLD_SECRET,
    SECRET,
    billing_settings,
    checkout,
    customer_of,
    deliver,
    inbox_row,
    stripe_app,
    subscription_row,
    wait_status,
)
from tests.notifications_ops import entries
from tests.parties_ops import Person, person
from tests.stripe_standin import StripeStandIn, event, invoice, signature_header, subscription
from tests.support import Api
from watchparty.billing.models import PlanId, StripeEvent, Subscription, SubscriptionStatus
from watchparty.billing.webhooks import process
from watchparty.kit.time import utcnow

BILLING = "/settings/billing"


@pytest.fixture(scope="module")
async def wapi(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_standin: StripeStandIn
) -> AsyncIterator[Api]:
    async with stripe_app("postgres", tmp_path_factory, stripe_standin, pg_url) as client:
        yield client


@pytest.fixture(scope="module")
async def wapi_embedded(
    tmp_path_factory: pytest.TempPathFactory, stripe_standin: StripeStandIn
) -> AsyncIterator[Api]:
    async with stripe_app("embedded", tmp_path_factory, stripe_standin) as client:
        yield client


@pytest.fixture(params=["postgres", "embedded"])
def any_wapi(request: pytest.FixtureRequest) -> Api:
    fixture = "wapi" if request.param == "postgres" else "wapi_embedded"
    result: Api = request.getfixturevalue(fixture)
    return result


@pytest.fixture(autouse=True)
def healthy(stripe_standin: StripeStandIn) -> None:
    stripe_standin.reset_faults()


async def customer(api: Api, who: Person) -> str:
    """The person's Stripe customer, made by a real checkout."""
    assert (await checkout(api, who.token))["__typename"] == "CheckoutSessionPayload"
    found = await customer_of(api, who.id)
    assert found is not None
    return found


def event_id(body: str) -> str:
    return str(json.loads(body)["id"])


async def send(api: Api, kind: str, obj: dict[str, Any], **kw: Any) -> str:
    body = event(kind, obj, **kw)
    status, answer = await deliver(api, body)
    assert (status, answer) == (200, {"received": True, "duplicate": False}), answer
    return event_id(body)


async def settle(api: Api, *ids: str, status: str = "PROCESSED") -> None:
    for one in ids:
        await wait_status(api, one, {status})


async def billing_entries(api: Api, who: Person) -> list[tuple[str, str, str]]:
    return [
        (kind, title, body)
        for kind, title, body, path, *_ in await entries(api, who)
        if path == BILLING
    ]


# -- the endpoint ------------------------------------------------------------------------------


async def test_refused_deliveries_store_nothing(wapi: Api) -> None:
    body = event("invoice.paid", {"id": "in_forged", "object": "invoice"})
    now = int(time.time())
    headers = {"content-type": "application/json"}
    cases = [
        (None, "SIGNATURE_MISSING"),
        (signature_header(body, "whsec_someone_else"), "SIGNATURE_INVALID"),
        (signature_header(body, SECRET, now - 301), "SIGNATURE_INVALID"),  # stale
        (signature_header(body.replace("in_forged", "in_other"), SECRET), "SIGNATURE_INVALID"),
        ("t=notanumber,v1=abc", "SIGNATURE_INVALID"),
        (f"t={now}", "SIGNATURE_INVALID"),
    ]
    for signature, code in cases:
        sent = dict(headers)
        if signature is not None:
            sent["stripe-signature"] = signature
        response = await wapi.client.post("/webhooks/stripe", content=body.encode(), headers=sent)
        assert response.status_code == 400, (signature, response.text)
        assert response.json()["error"]["code"] == code
    assert await inbox_row(wapi, event_id(body)) is None
    # Not an event at all, but signed: 400 too.
    for bad in ("[1, 2]", "not json", json.dumps({"object": "event", "id": "evt_x"})):
        status, answer = await deliver(wapi, bad)
        assert (status, answer["error"]["code"]) == (400, "PAYLOAD_INVALID")
    too_big = json.dumps({"object": "event", "pad": "x" * (1024 * 1024)})
    status, answer = await deliver(wapi, too_big)
    assert (status, answer["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


async def test_a_recent_signature_within_tolerance_and_the_previous_secret(
    wapi: Api,
) -> None:
    body = event("ping.unknown", {"id": "x"})
    status, _ = await deliver(wapi, body, timestamp=int(time.time()) - 290)
    assert status == 200
    rotated = event("ping.unknown", {"id": "y"})
    status, answer = await deliver(wapi, rotated, secret=OLD_SECRET)
    assert (status, answer) == (200, {"received": True, "duplicate": False})


async def test_unknown_types_are_stored_and_ignored(any_wapi: Api) -> None:
    body = event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})
    status, _ = await deliver(any_wapi, body)
    assert status == 200
    row = await wait_status(any_wapi, event_id(body), {"IGNORED"})
    assert (row.type, row.attempts, row.last_error) == ("customer.tax_id.created", 1, None)
    assert row.payload == json.loads(body)
    assert row.processed_at is not None


async def test_a_duplicate_delivery_is_processed_once(
    any_wapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(any_wapi, "Alice")
    cus = await customer(any_wapi, alice)
    body = event("invoice.paid", invoice("in_dup_" + alice.id[:8], cus, None, paid=499))
    answers = [await deliver(any_wapi, body) for _ in range(3)]
    assert [a[1]["duplicate"] for a in answers] == [False, True, True]
    await settle(any_wapi, event_id(body))
    concurrent = await asyncio.gather(*(deliver(any_wapi, body) for _ in range(5)))
    assert {a[1]["duplicate"] for a in concurrent} == {True}
    await any_wapi.drain_jobs()
    assert await billing_entries(any_wapi, alice) == [
        ("PAYMENT_SUCCEEDED", "Payment received", "Thank you: $4.99 was paid.")
    ]
    async with any_wapi.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.id == event_id(body))
        )
    assert count == 1


# -- processing --------------------------------------------------------------------------------


async def test_a_purchase_from_checkout_to_notifications(
    any_wapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice, bob = await person(any_wapi, "Alice"), await person(any_wapi, "Bob")
    cus = await customer(any_wapi, alice)
    sub_id = f"sub_{uuid.uuid4().hex[:12]}"
    trial_end = int(time.time()) + 3 * 86400 - 60
    sub = subscription(sub_id, cus, "price_plus_month", "trialing", trial_end=trial_end)
    stripe_standin.subscriptions[sub_id] = sub
    session = {
        "id": "cs_test_done",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": cus,
        "client_reference_id": alice.id,
        "subscription": sub_id,
    }
    first = await send(any_wapi, "checkout.session.completed", session)
    await settle(any_wapi, first)
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None
    assert (row.user_id, row.plan, row.status, row.stripe_price_id) == (
        uuid.UUID(alice.id),
        PlanId.PLUS,
        SubscriptionStatus.TRIALING,
        "price_plus_month",
    )
    assert row.trial_end is not None and int(row.trial_end.timestamp()) == trial_end
    assert row.current_period_end is not None
    created = await send(any_wapi, "customer.subscription.created", sub)
    ending = await send(any_wapi, "customer.subscription.trial_will_end", sub)
    await settle(any_wapi, created, ending)
    # Trial over, paid, then the next renewal fails and needs the bank's confirmation.
    stripe_standin.subscriptions[sub_id] = sub = subscription(sub_id, cus, "price_plus_month")
    paid = await send(any_wapi, "invoice.paid", invoice("in_1", cus, sub_id, paid=499, due=499))
    await settle(any_wapi, paid)
    failed = await send(any_wapi, "invoice.payment_failed", invoice("in_2", cus, sub_id, due=499))
    await settle(any_wapi, failed)
    again = await send(any_wapi, "invoice.payment_failed", invoice("in_2", cus, sub_id, due=499))
    await settle(any_wapi, again)
    action = await send(
        any_wapi, "invoice.payment_action_required", invoice("in_3", cus, sub_id, due=4990)
    )
    await settle(any_wapi, action)
    assert await billing_entries(any_wapi, alice) == [
        ("PAYMENT_ACTION_REQUIRED", "Confirm your payment",
         "Your bank asks you to confirm the payment of $49.90."),
        ("PAYMENT_FAILED", "Your payment failed",
         "We could not charge $4.99. Update your payment method."),  # twice: one entry
        ("PAYMENT_SUCCEEDED", "Payment received", "Thank you: $4.99 was paid."),
        # TRIALING -> ACTIVE grew the unread entry of the subscription (moved up).
        ("SUBSCRIPTION_CHANGED", "Your subscription changed", "You are now on Plus."),
        ("TRIAL_ENDING", "Your trial ends in 3 days", "Choose a plan to keep it."),
    ]  # fmt: skip
    assert await billing_entries(any_wapi, bob) == []  # nobody else hears of it
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and row.status is SubscriptionStatus.ACTIVE


async def test_out_of_order_deliveries_end_in_stripes_state(
    any_wapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(any_wapi, "Alice")
    cus = await customer(any_wapi, alice)
    sub_id = f"sub_{uuid.uuid4().hex[:12]}"
    t0 = int(time.time()) - 100
    created = subscription(sub_id, cus, "price_plus_month", "incomplete")
    upgraded = subscription(sub_id, cus, "price_premium_year", "active")
    # Stripe's state now: upgraded. `.updated` arrives before `.created`.
    stripe_standin.subscriptions[sub_id] = upgraded
    first = await send(any_wapi, "customer.subscription.updated", upgraded, created=t0 + 10)
    await settle(any_wapi, first)
    second = await send(any_wapi, "customer.subscription.created", created, created=t0)
    await settle(any_wapi, second)
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None
    assert (row.plan, row.status, row.interval) == (
        PlanId.PREMIUM,
        SubscriptionStatus.ACTIVE,
        "YEAR",
    )
    # Then canceled: `.deleted` arrives before a late `.updated` that still says active.
    canceled = subscription(sub_id, cus, "price_premium_year", "canceled")
    stripe_standin.subscriptions[sub_id] = canceled
    third = await send(any_wapi, "customer.subscription.deleted", canceled, created=t0 + 30)
    await settle(any_wapi, third)
    late = subscription(sub_id, cus, "price_premium_year", "active", cancel_at_period_end=True)
    fourth = await send(any_wapi, "customer.subscription.updated", late, created=t0 + 20)
    await settle(any_wapi, fourth)
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and (row.plan, row.status) == (
        PlanId.PREMIUM,
        SubscriptionStatus.CANCELED,
    )
    assert await plan_of(any_wapi, alice) == ("FREE", None)  # what the person sees
    # One entry for the subscription (collapsed while unread), saying where it ended.
    assert await billing_entries(any_wapi, alice) == [
        ("SUBSCRIPTION_CHANGED", "Your subscription changed", "You are now on Free.")
    ]


async def test_gone_from_stripe_uses_the_events_snapshot(any_wapi: Api) -> None:
    alice = await person(any_wapi, "Alice")
    cus = await customer(any_wapi, alice)
    sub_id = f"sub_gone_{uuid.uuid4().hex[:8]}"  # the stand-in answers 404 for it
    sub = subscription(sub_id, cus, "price_plus_year", "active")
    await settle(any_wapi, await send(any_wapi, "customer.subscription.created", sub))
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and (row.plan, row.status) == (PlanId.PLUS, SubscriptionStatus.ACTIVE)
    # Not one of our prices, or not our customer: stored, ignored with a note.
    other = subscription(f"sub_other_{uuid.uuid4().hex[:8]}", "cus_nobody", "price_plus_year")
    ignored = await send(any_wapi, "customer.subscription.created", other)
    row2 = await wait_status(any_wapi, ignored, {"IGNORED"})
    assert row2.last_error == "subscription of an unknown customer"
    foreign = subscription(f"sub_foreign_{uuid.uuid4().hex[:8]}", cus, "price_somebody_else")
    ignored = await send(any_wapi, "customer.subscription.created", foreign)
    row3 = await wait_status(any_wapi, ignored, {"IGNORED"})
    assert row3.last_error == "subscription with a price not in the catalog (price_somebody_else)"


async def test_a_failing_handler_is_retried_then_succeeds(
    wapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(wapi, "Alice")
    cus = await customer(wapi, alice)
    sub_id = f"sub_{uuid.uuid4().hex[:12]}"
    stripe_standin.subscriptions[sub_id] = sub = subscription(sub_id, cus, "price_plus_month")
    # Three 500s: the library's own tries (1 + 2 retries) all fail in the first run.
    stripe_standin.fail(f"/v1/subscriptions/{sub_id}", times=3, status=500)
    one = await send(wapi, "customer.subscription.created", sub)
    deadline = time.monotonic() + 15
    while True:
        row = await inbox_row(wapi, one)
        assert row is not None
        if row.attempts >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert (row.status.value, row.attempts) == ("PENDING", 1)
    assert row.last_error is not None and row.last_error.startswith("StripeUnavailable: ")
    assert await subscription_row(wapi, sub_id) is None  # nothing half-applied
    done = await wait_status(wapi, one, {"PROCESSED"}, timeout=20)  # the job's retry, 2 s later
    assert (done.attempts, done.last_error) == (2, None)
    assert await subscription_row(wapi, sub_id) is not None
    gets = stripe_standin.calls("GET", f"/v1/subscriptions/{sub_id}")
    assert [r.answer for r in gets] == [500, 500, 500, 200]


async def test_failed_after_the_last_try_then_inbox_and_replay_from_the_cli(
    wapi: Api, stripe_standin: StripeStandIn, tmp_path: Path
) -> None:
    alice = await person(wapi, "Alice")
    cus = await customer(wapi, alice)
    sub_id = f"sub_{uuid.uuid4().hex[:12]}"
    stripe_standin.subscriptions[sub_id] = sub = subscription(sub_id, cus, "price_plus_month")
    body = event("customer.subscription.updated", sub)
    one = event_id(body)
    # Stored as the endpoint would, with its job's runs used up (attempts at the limit).
    async with wapi.state.unit_of_work() as uow:
        uow.session.add(
            StripeEvent(
                id=one,
                type="customer.subscription.updated",
                stripe_created_at=utcnow(),
                payload=json.loads(body),
                attempts=4,
            )
        )
    stripe_standin.fail(f"/v1/subscriptions/{sub_id}", times=3, status=503)
    with pytest.raises(Exception, match=r"Stripe did not answer"):
        await process(wapi.state, one)
    row = await inbox_row(wapi, one)
    assert row is not None and (row.status.value, row.attempts) == ("FAILED", 5)

    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": wapi.settings.database_url,
        "REDIS_URL": wapi.settings.redis_url,
        "REDIS_KEY_PREFIX": wapi.settings.redis_key_prefix,
        "AUTO_MIGRATE": "false",
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
        **{k.upper(): str(v) for k, v in billing_settings(stripe_standin).items()},
    }
    cli = str(Path(sys.executable).parent / "watchparty")

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            cli, "billing", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, _ = await run("inbox", "--status", "FAILED")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith(one)]
    fields = line.split("\t")
    assert fields[1:4] == ["customer.subscription.updated", "FAILED", "5"]
    assert fields[5].startswith("StripeUnavailable: ")
    code, out, err = await run("replay", one)
    assert (code, out.strip()) == (0, f"{one}: PROCESSED"), err
    row = await inbox_row(wapi, one)
    assert row is not None and (row.status.value, row.last_error) == ("PROCESSED", None)
    assert await subscription_row(wapi, sub_id) is not None
    code, out, err = await run("replay", one)
    assert (code, out.strip()) == (0, f"{one}: PROCESSED")  # left alone
    code, _, err = await run("replay", "evt_nothing_here")
    assert (code, err.strip()) == (2, "error: no Stripe event evt_nothing_here")
    code, out, _ = await run("inbox")
    assert one not in out


async def plan_of(api: Api, who: Person) -> tuple[str, str | None]:
    """`me.entitlements.plan` and `me.subscription.status`, through GraphQL."""
    result = await api.gql(
        "{ me { entitlements { plan } subscription { status } } }", token=who.token
    )
    me = result.data["me"]
    return me["entitlements"]["plan"], (me["subscription"] or {}).get("status")


async def test_past_due_keeps_the_plan_for_the_grace_period(
    any_wapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(any_wapi, "Alice")
    cus = await customer(any_wapi, alice)
    sub_id = f"sub_{uuid.uuid4().hex[:12]}"
    stripe_standin.subscriptions[sub_id] = sub = subscription(sub_id, cus, "price_premium_month")
    await settle(any_wapi, await send(any_wapi, "customer.subscription.created", sub))
    stripe_standin.subscriptions[sub_id] = late = subscription(
        sub_id, cus, "price_premium_month", "past_due"
    )
    await settle(any_wapi, await send(any_wapi, "customer.subscription.updated", late))
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and row.past_due_since is not None
    since = row.past_due_since

    async def plan_now() -> PlanId:
        plan, _ = await plan_of(any_wapi, alice)
        return PlanId(plan)

    # Within BILLING_PAST_DUE_GRACE_DAYS (7): still premium, and the person sees why.
    assert await plan_of(any_wapi, alice) == ("PREMIUM", "PAST_DUE")
    # A later past-due update keeps the first moment.
    await settle(any_wapi, await send(any_wapi, "customer.subscription.updated", late))
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and row.past_due_since == since
    # Eight days on: the grace is over, FREE applies (nothing is deleted).
    async with any_wapi.state.unit_of_work() as uow:
        await uow.session.execute(
            update(Subscription)
            .where(Subscription.id == row.id)
            .values(past_due_since=since - timedelta(days=8))
        )
    assert await plan_now() is PlanId.FREE
    # Paid at last: active again, the past-due mark cleared.
    stripe_standin.subscriptions[sub_id] = sub
    paid = invoice(f"in_{uuid.uuid4().hex[:8]}", cus, sub_id, paid=999, due=999)
    await settle(any_wapi, await send(any_wapi, "invoice.paid", paid))
    row = await subscription_row(any_wapi, sub_id)
    assert row is not None and (row.status, row.past_due_since) == (SubscriptionStatus.ACTIVE, None)
    assert await plan_now() is PlanId.PREMIUM
