"""Starting a purchase (Stripe Checkout) and opening the customer portal. No GraphQL.

These take the process's `AppState` rather than one unit of work: each database step is a
short unit of its own and every Stripe call happens between them, so no database connection
(or row lock) is held while Stripe answers (up to STRIPE_TIMEOUT_SECONDS per attempt).

- One Stripe Customer per user: created on the first checkout with the idempotency key
  `watchparty-customer-<user id>` (two concurrent checkouts, on any processes, get the same
  customer from Stripe), stored with INSERT ... ON CONFLICT DO NOTHING and read back (if two
  different customers were ever created, the first stored wins; the other stays unused in
  Stripe).
- A user with a Stripe subscription that entitles them now (TRIALING, ACTIVE, PAST_DUE within
  the grace period) gets `AlreadySubscribed` carrying a portal URL instead of a second
  subscription. Comps do not count: a comped user may buy.
- Redirect paths are frontend paths joined to FRONTEND_URL: they must start with one "/",
  and hold no "//", no backslash, no scheme or host, no control character (no open redirect).
- The portal for a user who never started a checkout (no customer): `NotFound`; no customer is
  created just to show an empty portal.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.billing.entitlements import entitles
from watchparty.billing.errors import AlreadySubscribed, BillingUnavailable
from watchparty.billing.models import (
    BillingCustomer,
    BillingInterval,
    PlanId,
    Subscription,
    SubscriptionSource,
)
from watchparty.billing.plans import price_id
from watchparty.billing.stripe_api import CheckoutSession, StripeUnavailable, stripe_api
from watchparty.config import Settings
from watchparty.db import upsert_insert
from watchparty.errors import NotFound, ServiceUnavailable, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.state import AppState

MAX_PATH_LENGTH = 500


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    plan: PlanId
    interval: BillingInterval
    success_path: str
    cancel_path: str


def frontend_url(settings: Settings, path: str, field: str) -> str:
    """`path` (a frontend path) as an absolute URL under FRONTEND_URL, or ValidationProblem."""
    bad = ValidationProblem("Must be a path of this site starting with a single '/'.", field=field)
    if not path.startswith("/") or len(path) > MAX_PATH_LENGTH:
        raise bad
    if "//" in path or "\\" in path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise bad
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        raise bad
    return settings.frontend_url.rstrip("/") + path


def _require_billing(settings: Settings) -> None:
    if not settings.billing_enabled:
        raise BillingUnavailable()


def _unavailable(exc: StripeUnavailable) -> ServiceUnavailable:
    return ServiceUnavailable(
        exc.retry_after_seconds,
        f"Payments are unavailable for a moment. Try again in {exc.retry_after_seconds} seconds.",
    )


async def _customer_id(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(
        select(BillingCustomer.stripe_customer_id).where(BillingCustomer.user_id == user_id)
    )
    return found


async def _store_customer(state: AppState, user_id: uuid.UUID, customer_id: str) -> str:
    """Keep `customer_id` as the user's unless another is stored already; return the stored."""
    async with state.unit_of_work() as uow:
        session = uow.session
        insert = upsert_insert(session)
        await session.execute(
            insert(BillingCustomer)
            .values(user_id=user_id, stripe_customer_id=customer_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        stored = await _customer_id(session, user_id)
    if stored is None:  # pragma: no cover - the same customer id stored for another user
        raise RuntimeError("Stripe customer id already belongs to another user")
    return stored


async def create_checkout_session(
    state: AppState, viewer_id: uuid.UUID, request: CheckoutRequest
) -> CheckoutSession:
    settings = state.settings
    _require_billing(settings)
    if request.plan is PlanId.FREE:
        raise ValidationProblem("The free plan cannot be bought.", field="planId")
    price = price_id(settings, request.plan, request.interval)
    if price is None:
        raise ValidationProblem("This plan is not sold at this interval.", field="interval")
    success_url = frontend_url(settings, request.success_path, "successPath")
    cancel_url = frontend_url(settings, request.cancel_path, "cancelPath")
    now = utcnow()
    async with state.sessionmaker() as session:
        user = await session.get(User, viewer_id)
        if user is None:
            raise NotFound()
        customer_id = await _customer_id(session, viewer_id)
        rows = await session.scalars(
            select(Subscription).where(
                Subscription.user_id == viewer_id,
                Subscription.source == SubscriptionSource.STRIPE,
            )
        )
        subscribed = any(entitles(row, settings, now) for row in rows)
        email, name = user.email, user.display_name
    api = stripe_api(state)
    try:
        if subscribed and customer_id is not None:
            raise AlreadySubscribed(await api.create_portal_session(customer_id, cancel_url))
        if customer_id is None:
            created = await api.create_customer(viewer_id, email, name)
            customer_id = await _store_customer(state, viewer_id, created)
        return await api.create_checkout_session(
            user_id=viewer_id,
            customer_id=customer_id,
            price_id=price,
            success_url=success_url,
            cancel_url=cancel_url,
            now_seconds=time.time(),
        )
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc


async def create_portal_session(state: AppState, viewer_id: uuid.UUID, return_path: str) -> str:
    settings = state.settings
    _require_billing(settings)
    return_url = frontend_url(settings, return_path, "returnPath")
    async with state.sessionmaker() as session:
        customer_id = await _customer_id(session, viewer_id)
    if customer_id is None:
        raise NotFound("There is no billing account to manage yet: choose a plan first.")
    try:
        return await stripe_api(state).create_portal_session(customer_id, return_url)
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
