"""`createCheckoutSession` and `createBillingPortalSession`. Thin: unpack, call the service,
map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.billing import checkout
from watchparty.billing.checkout_types import (
    AlreadySubscribed,
    BillingPortalSessionPayload,
    BillingUnavailable,
    CheckoutSessionPayload,
    CreateBillingPortalSessionInput,
    CreateCheckoutSessionInput,
    returns_billing_errors,
)
from watchparty.context import Info
from watchparty.gql.errors import NotAuthenticated, NotFound, ServiceUnavailable, ValidationError

CreateCheckoutSessionResult = Annotated[
    CheckoutSessionPayload
    | AlreadySubscribed
    | BillingUnavailable
    | ServiceUnavailable
    | NotAuthenticated
    | ValidationError,
    strawberry.union("CreateCheckoutSessionResult"),
]
CreateBillingPortalSessionResult = Annotated[
    BillingPortalSessionPayload
    | BillingUnavailable
    | ServiceUnavailable
    | NotAuthenticated
    | NotFound
    | ValidationError,
    strawberry.union("CreateBillingPortalSessionResult"),
]


@strawberry.type
class CheckoutMutations:
    @strawberry.mutation(
        description="Start buying a plan: a Stripe Checkout session for the viewer (their "
        "Stripe customer is created on first use). Redirect to `url`. Someone already "
        "subscribed gets AlreadySubscribed with a portal URL; Stripe unreachable: "
        "ServiceUnavailable (retry)."
    )
    @returns_billing_errors
    async def create_checkout_session(
        self, info: Info, input: CreateCheckoutSessionInput
    ) -> CreateCheckoutSessionResult:
        viewer = await info.context.require_viewer()
        request = checkout.CheckoutRequest(
            input.plan_id, input.interval, input.success_path, input.cancel_path
        )
        session = await checkout.create_checkout_session(info.context.state, viewer.id, request)
        return CheckoutSessionPayload(session_id=session.id, url=session.url)

    @strawberry.mutation(
        description="Open Stripe's customer portal for the viewer (change plan, payment "
        "method, cancel, invoices). NotFound when they never started a checkout."
    )
    @returns_billing_errors
    async def create_billing_portal_session(
        self, info: Info, input: CreateBillingPortalSessionInput
    ) -> CreateBillingPortalSessionResult:
        viewer = await info.context.require_viewer()
        url = await checkout.create_portal_session(info.context.state, viewer.id, input.return_path)
        return BillingPortalSessionPayload(url=url)
