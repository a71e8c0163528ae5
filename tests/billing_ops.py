"""Helpers for the billing tests: settings that point the `stripe` library at the stand-in,
the GraphQL operations, signed webhook deliveries, and waiting for the inbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from tests.stripe_standin import StripeStandIn, signature_header
from tests.support import Api, make_settings, running_app
from watchparty.billing.models import BillingCustomer, StripeEvent, Subscription

FRONTEND = "https://app.watchparty.test"
SECRET = "whsec_current_0123456789abcdef"
OLD_SECRET = "whsec_previous_0123456789abcdef"
PRICES = {
    "stripe_price_plus_monthly": "price_plus_month",
    "stripe_price_plus_yearly": "price_plus_year",
    "stripe_price_premium_monthly": "price_premium_month",
    "stripe_price_premium_yearly": "price_premium_year",
}


@asynccontextmanager
async def stripe_app(
    kind: str, tmp_path_factory: pytest.TempPathFactory, standin: StripeStandIn, pg_url: str = ""
) -> AsyncIterator[Api]:
    """The app on `kind` ("postgres": with its ARQ worker; "embedded") with billing on against
    the Stripe stand-in."""
    settings = make_settings(
        kind,
        database_url=pg_url if kind == "postgres" else "",
        tmp=tmp_path_factory.mktemp(f"stripe-{kind}"),
        **billing_settings(standin),
    )
    async with running_app(settings) as client:
        yield client


def billing_settings(standin: StripeStandIn, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "stripe_secret_key": "sk_test_standin",
        "stripe_publishable_key": "pk_test_standin",
        "stripe_webhook_secret": f"{SECRET},{OLD_SECRET}",
        "stripe_api_base": standin.url,
        "stripe_timeout_seconds": 1.0,
        "frontend_url": FRONTEND,
        **PRICES,
    }
    values.update(overrides)
    return values


CHECKOUT = """mutation($input: CreateCheckoutSessionInput!) { createCheckoutSession(input: $input) {
  __typename ... on CheckoutSessionPayload { sessionId url }
  ... on AlreadySubscribed { portalUrl }
  ... on ServiceUnavailable { retryAfterSeconds }
  ... on UserError { code message field } } }"""

PORTAL = """mutation($input: CreateBillingPortalSessionInput!) {
  createBillingPortalSession(input: $input) {
  __typename ... on BillingPortalSessionPayload { url }
  ... on ServiceUnavailable { retryAfterSeconds }
  ... on UserError { code message field } } }"""


async def checkout(
    api: Any,
    token: str | None,
    plan: str = "PLUS",
    interval: str = "MONTH",
    success: str = "/billing/done",
    cancel: str = "/pricing",
) -> dict[str, Any]:
    given = {"planId": plan, "interval": interval, "successPath": success, "cancelPath": cancel}
    variables = {"input": given}
    result: dict[str, Any] = (await api.gql(CHECKOUT, variables, token=token)).data[
        "createCheckoutSession"
    ]
    return result


async def portal(api: Any, token: str | None, path: str = "/settings/billing") -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.gql(PORTAL, {"input": {"returnPath": path}}, token=token)
    ).data["createBillingPortalSession"]
    return result


async def deliver(
    api: Api, body: str, *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a webhook delivery signed like Stripe; (status, JSON answer)."""
    headers = {
        "content-type": "application/json; charset=utf-8",
        "stripe-signature": signature_header(body, secret, timestamp),
        "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    response = await api.client.post("/webhooks/stripe", content=body.encode(), headers=headers)
    return response.status_code, response.json()


async def inbox_row(api: Api, event_id: str) -> StripeEvent | None:
    async with api.state.sessionmaker() as session:
        row: StripeEvent | None = await session.get(StripeEvent, event_id)
        return row


async def wait_status(
    api: Api, event_id: str, statuses: set[str], timeout: float = 20.0
) -> StripeEvent:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await api.drain_jobs()
        row = await inbox_row(api, event_id)
        if row is not None and row.status.value in statuses:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"event {event_id} is {None if row is None else row.status}")
        await asyncio.sleep(0.05)


async def customer_of(api: Api, user_id: str) -> str | None:
    async with api.state.sessionmaker() as session:
        found: str | None = await session.scalar(
            select(BillingCustomer.stripe_customer_id).where(
                BillingCustomer.user_id == uuid.UUID(user_id)
            )
        )
        return found


async def subscription_row(api: Api, stripe_id: str) -> Subscription | None:
    async with api.state.sessionmaker() as session:
        row: Subscription | None = await session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == stripe_id)
        )
        return row
