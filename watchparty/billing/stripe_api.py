"""Outbound calls to Stripe through the `stripe` library: customers, Checkout and portal
sessions, subscriptions. No database, no GraphQL.

- One `StripeClient` per process (`stripe_api(state)`, kept in `state.extras`), on the
  library's asyncio HTTP client (`stripe.HTTPXClient`, httpx): no thread, no blocking call on
  the event loop. STRIPE_API_BASE repoints the library (tests' stand-in); empty: Stripe's.
- Every attempt times out after STRIPE_TIMEOUT_SECONDS. The library retries only what is safe
  to repeat: connection errors, timeouts, 409 and 5xx (or as Stripe's `Stripe-Should-Retry`
  says), and every POST carries an Idempotency-Key (ours where a repeat must give the same
  object: one customer per user, one Checkout session per double click; otherwise the
  library's own key, reused across its retries). `INTERACTIVE_RETRIES` (1) in a request a
  person waits for, `BACKGROUND_RETRIES` (2) in jobs, which have their own backoff besides.
- Stripe unreachable, slow, rate limiting us or failing (5xx): `StripeUnavailable`, which the
  GraphQL layer answers as `ServiceUnavailable { retryAfterSeconds }` and jobs retry. Any other
  Stripe error (a 4xx: a misconfigured price, a bad key) is a bug or a misconfiguration and is
  raised as is (masked and logged with a correlation id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import stripe

from watchparty.config import Settings
from watchparty.state import AppState

log = logging.getLogger(__name__)

EXTRAS_KEY = "billing.stripe_api"
INTERACTIVE_RETRIES = 1
BACKGROUND_RETRIES = 2
RETRY_AFTER_SECONDS = 30  # what a client is told when Stripe did not answer
# Checkout sessions: the same person, plan and paths within this window get the same session
# (a double click opens one), later a new one (an abandoned session stays open for 24 h).
CHECKOUT_KEY_WINDOW_SECONDS = 300


class StripeUnavailable(Exception):
    """Stripe did not answer in time, or answered that it cannot right now (429, 5xx)."""

    def __init__(self, message: str, retry_after_seconds: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class StripeNotFound(Exception):
    """Stripe has no such object (`resource_missing`)."""


_UNAVAILABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


def _plain(value: Any) -> dict[str, Any]:
    """A StripeObject as plain JSON values (what the handlers and the database see)."""
    if isinstance(value, stripe.StripeObject):
        result: dict[str, Any] = json.loads(json.dumps(value.to_dict(recursive=True)))
        return result
    return dict(value)


class StripeApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        base = settings.stripe_api_base.strip().rstrip("/")
        self.client = stripe.StripeClient(
            settings.stripe_secret_key.strip(),
            base_addresses={"api": base} if base else None,
            http_client=self.http,
            max_network_retries=BACKGROUND_RETRIES,
        )

    async def _call(self, what: str, coroutine: Any) -> dict[str, Any]:
        try:
            return _plain(await coroutine)
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                raise StripeNotFound(f"{what}: {exc.user_message}") from exc
            raise
        except _UNAVAILABLE as exc:
            status = getattr(exc, "http_status", None)
            log.warning(
                "Stripe unavailable",
                extra={"call": what, "status": status, "error": type(exc).__name__},
            )
            raise StripeUnavailable(f"Stripe did not answer {what} ({type(exc).__name__})") from exc

    # -- customers ---------------------------------------------------------------------------

    async def create_customer(self, user_id: uuid.UUID, email: str, name: str) -> str:
        """The user's Stripe Customer. The idempotency key is the user's id: a second call
        (a race, a retry, another process) within Stripe's 24 hours gets the same customer."""
        params: Any = {"email": email, "name": name, "metadata": {"userId": str(user_id)}}
        options: Any = {
            "idempotency_key": f"watchparty-customer-{user_id}",
            "max_network_retries": INTERACTIVE_RETRIES,
        }
        customer = await self._call(
            "customers.create",
            self.client.v1.customers.create_async(params, options),
        )
        return str(customer["id"])

    # -- sessions ----------------------------------------------------------------------------

    async def create_checkout_session(
        self,
        *,
        user_id: uuid.UUID,
        customer_id: str,
        price_id: str,
        success_url: str,
        cancel_url: str,
        now_seconds: float,
    ) -> CheckoutSession:
        params: Any = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(user_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "allow_promotion_codes": True,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"userId": str(user_id)},
            "subscription_data": {"metadata": {"userId": str(user_id)}},
        }
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
        window = int(now_seconds // CHECKOUT_KEY_WINDOW_SECONDS)
        options: Any = {
            "idempotency_key": f"watchparty-checkout-{user_id}-{digest}-{window}",
            "max_network_retries": INTERACTIVE_RETRIES,
        }
        session = await self._call(
            "checkout.sessions.create",
            self.client.v1.checkout.sessions.create_async(params, options),
        )
        return CheckoutSession(str(session["id"]), str(session["url"]))

    async def create_portal_session(self, customer_id: str, return_url: str) -> str:
        params: Any = {"customer": customer_id, "return_url": return_url}
        options: Any = {"max_network_retries": INTERACTIVE_RETRIES}
        session = await self._call(
            "billing_portal.sessions.create",
            self.client.v1.billing_portal.sessions.create_async(params, options),
        )
        return str(session["url"])

    # -- subscriptions -----------------------------------------------------------------------

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as Stripe holds it now (jobs: the truth, whatever event arrived)."""
        options: Any = {"max_network_retries": BACKGROUND_RETRIES}
        return await self._call(
            "subscriptions.retrieve",
            self.client.v1.subscriptions.retrieve_async(subscription_id, None, options),
        )


def stripe_api(state: AppState) -> StripeApi:
    """This process's client, created on first use (billing must be on)."""
    api = state.extras.get(EXTRAS_KEY)
    if api is None:
        api = state.extras[EXTRAS_KEY] = StripeApi(state.settings)
    return api  # type: ignore[no-any-return]
