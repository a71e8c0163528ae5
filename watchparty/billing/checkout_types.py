"""GraphQL types of the Stripe flows: `createCheckoutSession` and `createBillingPortalSession`
inputs, payloads and their errors (`AlreadySubscribed`, `BillingUnavailable`).

LEAD: `PlanId` and `BillingInterval` are declared as GraphQL enums here; if the plans branch
declares them too, keep one declaration.
"""

from __future__ import annotations

import strawberry

from watchparty.billing import errors
from watchparty.billing.types import BillingInterval  # declared (GraphQL) there
from watchparty.errors import Problem
from watchparty.gql.errors import (
    PlanId,  # declared (GraphQL) there
    UserError,
    errors_mapped_by,
    to_error,
)


@strawberry.input
class CreateCheckoutSessionInput:
    plan_id: PlanId = strawberry.field(description="A paid plan (not FREE).")
    interval: BillingInterval
    success_path: str = strawberry.field(
        description="Where Stripe sends the person after paying: a frontend path starting "
        "with '/' (joined to the frontend's URL; no '//', no scheme or host)."
    )
    cancel_path: str = strawberry.field(
        description="Where Stripe sends the person when they go back: a frontend path."
    )


@strawberry.type(description="Redirect the person to `url` (Stripe Checkout).")
class CheckoutSessionPayload:
    session_id: str = strawberry.field(
        description="Stripe's Checkout Session id (for Stripe.js `redirectToCheckout`)."
    )
    url: str


@strawberry.input
class CreateBillingPortalSessionInput:
    return_path: str = strawberry.field(
        description="Where the portal's back link goes: a frontend path starting with '/'."
    )


@strawberry.type(description="Redirect the person to `url` (Stripe's customer portal).")
class BillingPortalSessionPayload:
    url: str


@strawberry.type(
    description="Billing is off on this server (code BILLING_UNAVAILABLE): nothing can be "
    "bought; not worth retrying. A Stripe outage is ServiceUnavailable instead."
)
class BillingUnavailable(UserError):
    pass


@strawberry.type(
    description="The viewer already has a subscription (code ALREADY_SUBSCRIBED): send them "
    "to `portalUrl` (Stripe's customer portal, opened for them; its back link is the "
    "cancelPath) to change plan or interval."
)
class AlreadySubscribed(UserError):
    portal_url: str


def to_billing_error(problem: Problem) -> UserError:
    if isinstance(problem, errors.AlreadySubscribed):
        return AlreadySubscribed(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            portal_url=problem.portal_url,
        )
    if isinstance(problem, errors.BillingUnavailable):
        return BillingUnavailable(code=problem.code, message=problem.message, field=problem.field)  # type: ignore[arg-type]
    return to_error(problem)


returns_billing_errors = errors_mapped_by(to_billing_error)
