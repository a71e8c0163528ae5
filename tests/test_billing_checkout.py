"""createCheckoutSession and createBillingPortalSession through GraphQL, with the real `stripe`
library talking to the loopback stand-in (tests/stripe_standin.py): one customer per user even
under concurrent calls, idempotency keys, redirect paths, already subscribed, billing off,
Stripe failing or hanging (a typed retryable error), and whose customer a session is for."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from tests.billing_ops import (
    FRONTEND,
    checkout,
    customer_of,
    deliver,
    portal,
    stripe_app,
    wait_status,
)
from tests.parties_ops import person
from tests.stripe_standin import StripeStandIn, event, subscription
from tests.support import Api


@pytest.fixture(scope="module")
async def bapi(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_standin: StripeStandIn
) -> AsyncIterator[Api]:
    async with stripe_app("postgres", tmp_path_factory, stripe_standin, pg_url) as client:
        yield client


@pytest.fixture(scope="module")
async def bapi_embedded(
    tmp_path_factory: pytest.TempPathFactory, stripe_standin: StripeStandIn
) -> AsyncIterator[Api]:
    async with stripe_app("embedded", tmp_path_factory, stripe_standin) as client:
        yield client


@pytest.fixture(params=["postgres", "embedded"])
def any_bapi(request: pytest.FixtureRequest) -> Api:
    fixture = "bapi" if request.param == "postgres" else "bapi_embedded"
    result: Api = request.getfixturevalue(fixture)
    return result


@pytest.fixture(autouse=True)
def healthy(stripe_standin: StripeStandIn) -> None:
    stripe_standin.reset_faults()


async def test_checkout_creates_one_customer_under_concurrent_calls(
    any_bapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(any_bapi, "Alice")
    before = len(stripe_standin.customers)
    first, second = await asyncio.gather(
        checkout(any_bapi, alice.token), checkout(any_bapi, alice.token)
    )
    assert first["__typename"] == second["__typename"] == "CheckoutSessionPayload", first
    # A double click: the same idempotency key, so the same session.
    assert first["sessionId"] == second["sessionId"]
    assert first["url"] == f"https://checkout.stripe.test/c/pay/{first['sessionId']}"
    assert len(stripe_standin.customers) == before + 1
    customer_id = await customer_of(any_bapi, alice.id)
    assert customer_id is not None and customer_id in stripe_standin.customers
    customer = stripe_standin.customers[customer_id]
    assert customer["metadata"] == {"userId": alice.id}
    assert customer["name"] == "Alice"
    keys = {
        r.headers["idempotency-key"]
        for r in stripe_standin.calls("POST", "/v1/customers")
        if r.params.get("metadata[userId]") == alice.id
    }
    assert keys == {f"watchparty-customer-{alice.id}"}

    (session,) = [
        s for s in stripe_standin.checkout_sessions.values() if s["id"] == first["sessionId"]
    ]
    assert session["params"] == {
        "mode": "subscription",
        "customer": customer_id,
        "client_reference_id": alice.id,
        "line_items[0][price]": "price_plus_month",
        "line_items[0][quantity]": "1",
        "allow_promotion_codes": "true",
        "success_url": f"{FRONTEND}/billing/done",
        "cancel_url": f"{FRONTEND}/pricing",
        "metadata[userId]": alice.id,
        "subscription_data[metadata][userId]": alice.id,
    }
    (key,) = {
        r.headers["idempotency-key"]
        for r in stripe_standin.calls("POST", "/v1/checkout/sessions")
        if r.params.get("client_reference_id") == alice.id
    }
    assert key.startswith(f"watchparty-checkout-{alice.id}-")

    # Another plan later: a new session, the same customer (no second customer call).
    customer_calls = len(stripe_standin.calls("POST", "/v1/customers"))
    yearly = await checkout(any_bapi, alice.token, plan="PREMIUM", interval="YEAR")
    assert yearly["__typename"] == "CheckoutSessionPayload"
    assert yearly["sessionId"] != first["sessionId"]
    assert stripe_standin.checkout_sessions[yearly["sessionId"]]["params"]["customer"] == (
        customer_id
    )
    assert len(stripe_standin.calls("POST", "/v1/customers")) == customer_calls


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
        "evil",
        "/a//b",
        "javascript:alert(1)",
        "",
        "/tab\there",
        "/" + "a" * 600,
    ],
)
async def test_redirect_paths_must_be_frontend_paths(bapi: Api, path: str) -> None:
    alice = await person(bapi)
    bad_success = await checkout(bapi, alice.token, success=path)
    assert (bad_success["__typename"], bad_success["code"], bad_success["field"]) == (
        "ValidationError",
        "VALIDATION",
        "successPath",
    )
    bad_cancel = await checkout(bapi, alice.token, cancel=path)
    assert (bad_cancel["__typename"], bad_cancel["field"]) == ("ValidationError", "cancelPath")
    bad_return = await portal(bapi, alice.token, path)
    assert (bad_return["__typename"], bad_return["field"]) == ("ValidationError", "returnPath")
    assert await customer_of(bapi, alice.id) is None  # refused before Stripe was asked


async def test_paths_with_queries_are_joined_to_the_frontend(
    bapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(bapi)
    result = await checkout(
        bapi, alice.token, success="/billing/done?plan=plus#top", cancel="/pricing?from=party"
    )
    params = stripe_standin.checkout_sessions[result["sessionId"]]["params"]
    assert params["success_url"] == f"{FRONTEND}/billing/done?plan=plus#top"
    assert params["cancel_url"] == f"{FRONTEND}/pricing?from=party"


async def test_free_plan_and_anonymous(bapi: Api) -> None:
    alice = await person(bapi)
    free = await checkout(bapi, alice.token, plan="FREE")
    assert (free["__typename"], free["field"]) == ("ValidationError", "planId")
    anonymous = await checkout(bapi, None)
    assert (anonymous["__typename"], anonymous["code"]) == ("NotAuthenticated", "NOT_AUTHENTICATED")
    anonymous_portal = await portal(bapi, None)
    assert anonymous_portal["__typename"] == "NotAuthenticated"


async def test_portal_for_the_viewers_own_customer_only(
    bapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice, bob = await person(bapi, "Alice"), await person(bapi, "Bob")
    never = await portal(bapi, bob.token)
    assert (never["__typename"], never["code"]) == ("NotFound", "NOT_FOUND")
    assert never["message"] == "There is no billing account to manage yet: choose a plan first."
    await checkout(bapi, alice.token)
    await checkout(bapi, bob.token)
    alice_customer = await customer_of(bapi, alice.id)
    bob_customer = await customer_of(bapi, bob.id)
    assert alice_customer != bob_customer
    for who, customer in ((alice, alice_customer), (bob, bob_customer)):
        result = await portal(bapi, who.token, "/settings/billing?tab=invoices")
        assert result["__typename"] == "BillingPortalSessionPayload"
        session_id = result["url"].rsplit("/", 1)[1]
        assert stripe_standin.portal_sessions[session_id]["customer"] == customer
        assert stripe_standin.portal_sessions[session_id]["return_url"] == (
            f"{FRONTEND}/settings/billing?tab=invoices"
        )
        # Nothing of Stripe's ids reaches a client but the opaque session URL.
        assert customer is not None and customer not in str(result)


async def test_already_subscribed_gets_the_portal(bapi: Api, stripe_standin: StripeStandIn) -> None:
    alice = await person(bapi)
    await checkout(bapi, alice.token)
    customer = await customer_of(bapi, alice.id)
    assert customer is not None
    sub = subscription(f"sub_{alice.id[:8]}ok", customer, "price_plus_month")
    stripe_standin.subscriptions[sub["id"]] = sub
    body = event("customer.subscription.created", sub)
    status, _ = await deliver(bapi, body)
    assert status == 200
    await wait_status(bapi, json.loads(body)["id"], {"PROCESSED"})

    result = await checkout(bapi, alice.token, plan="PREMIUM", cancel="/pricing?upgrade=1")
    assert (result["__typename"], result["code"]) == ("AlreadySubscribed", "ALREADY_SUBSCRIBED")
    assert result["message"] == "You already have a subscription: change it in the billing portal."
    session_id = result["portalUrl"].rsplit("/", 1)[1]
    assert stripe_standin.portal_sessions[session_id]["customer"] == customer
    assert stripe_standin.portal_sessions[session_id]["return_url"] == (
        f"{FRONTEND}/pricing?upgrade=1"
    )


async def test_stripe_failing_is_a_retryable_error(
    bapi: Api, stripe_standin: StripeStandIn
) -> None:
    alice = await person(bapi)
    stripe_standin.fail("/v1/customers", times=2, status=500)
    result = await checkout(bapi, alice.token)
    assert result == {
        "__typename": "ServiceUnavailable",
        "retryAfterSeconds": 30,
        "code": "SERVICE_UNAVAILABLE",
        "message": "Payments are unavailable for a moment. Try again in 30 seconds.",
        "field": None,
    }
    tries = [
        r for r in stripe_standin.calls("POST", "/v1/customers")
        if r.params.get("metadata[userId]") == alice.id
    ]  # fmt: skip
    # The library retried once, with the same idempotency key.
    assert [r.answer for r in tries] == [500, 500]
    assert {r.headers["idempotency-key"] for r in tries} == {f"watchparty-customer-{alice.id}"}
    assert await customer_of(bapi, alice.id) is None
    # Stripe is back: the same call works, and creates the customer once.
    again = await checkout(bapi, alice.token)
    assert again["__typename"] == "CheckoutSessionPayload"


async def test_stripe_hanging_times_out(bapi: Api, stripe_standin: StripeStandIn) -> None:
    alice = await person(bapi)
    await checkout(bapi, alice.token)  # the customer exists
    stripe_standin.hang("/v1/billing_portal/sessions")
    started = time.monotonic()
    result = await portal(bapi, alice.token)
    elapsed = time.monotonic() - started
    stripe_standin.release()
    assert (result["__typename"], result["retryAfterSeconds"]) == ("ServiceUnavailable", 30)
    # Two attempts of STRIPE_TIMEOUT_SECONDS (1 s) and the library's short backoff.
    assert 2.0 <= elapsed < 5.0, elapsed


async def test_billing_off(api: Api) -> None:
    """The default configuration: no STRIPE_SECRET_KEY."""
    alice = await person(api)
    result = await checkout(api, alice.token)
    assert result == {
        "__typename": "BillingUnavailable",
        "code": "BILLING_UNAVAILABLE",
        "message": "Billing is not available on this server.",
        "field": None,
    }
    assert (await portal(api, alice.token))["__typename"] == "BillingUnavailable"
    response = await api.client.post("/webhooks/stripe", content=b"{}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
