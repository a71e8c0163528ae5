"""Billing's expected errors (mapped to `UserError` members by `billing/checkout_types.py`)."""

from __future__ import annotations

from watchparty.errors import ErrorCode, Problem


class BillingUnavailable(Problem):
    """Billing is off on this server (no STRIPE_SECRET_KEY): nothing can be bought. Not
    retryable (a Stripe outage is `ServiceUnavailable`)."""

    code = ErrorCode.BILLING_UNAVAILABLE

    def __init__(self, message: str = "Billing is not available on this server.") -> None:
        super().__init__(message)


class AlreadySubscribed(Problem):
    """The viewer already has a Stripe subscription that entitles them: change it in the
    customer portal (`portal_url`, opened for them) instead of buying a second one."""

    code = ErrorCode.ALREADY_SUBSCRIBED

    def __init__(self, portal_url: str) -> None:
        super().__init__(
            "You already have a subscription: change it in the billing portal.",
            portal_url=portal_url,
        )
        self.portal_url = portal_url
