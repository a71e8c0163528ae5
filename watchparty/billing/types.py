"""GraphQL types of billing: the catalog, the viewer's subscription and entitlements, and the
`EntitlementsChanged` item of the notification stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import strawberry

from watchparty.billing import models
from watchparty.billing import plans as catalog
from watchparty.billing.events import EntitlementsChanged as EntitlementsChangedEvent
from watchparty.config import Settings
from watchparty.events import Event
from watchparty.gql.errors import PlanId

BillingInterval = models.BillingInterval
SubscriptionStatus = models.SubscriptionStatus
SubscriptionSource = models.SubscriptionSource
strawberry.enum(BillingInterval, description="How often a price bills.")
strawberry.enum(
    SubscriptionStatus,
    description="Stripe's subscription status. TRIALING and ACTIVE entitle; PAST_DUE entitles "
    "during the grace period (BILLING_PAST_DUE_GRACE_DAYS) after the first failed payment.",
)
strawberry.enum(
    SubscriptionSource,
    description="STRIPE: bought through Checkout; COMP: granted by support until `compUntil`.",
)


@strawberry.type(
    description="What a plan allows. Byte sizes are Floats (they pass 2^31); null-free."
)
class Entitlements:
    plan: PlanId = strawberry.field(description="The plan these are the limits of.")
    party_members: int = strawberry.field(description="Active members of a party you host.")
    hosted_parties: int = strawberry.field(
        description="Parties you host at once (scheduled or live)."
    )
    storage_bytes: float = strawberry.field(description="Your uploaded videos together.")
    upload_bytes: float = strawberry.field(description="One upload.")
    processing_height: int = strawberry.field(
        description="The tallest rendition made of your uploads (720, 1080...)."
    )
    screen_shares: int = strawberry.field(description="Screens shared at once in a party you host.")
    premium_videos: bool = strawberry.field(
        description="May play videos marked premium-only, and renditions above 720p when "
        "processingHeight is at least 1080."
    )

    @classmethod
    def of(cls, plan: models.PlanId, value: catalog.Entitlements) -> Entitlements:
        return cls(
            plan=plan,
            party_members=value.party_members,
            hosted_parties=value.hosted_parties,
            storage_bytes=float(value.storage_bytes),
            upload_bytes=float(value.upload_bytes),
            processing_height=value.processing_height,
            screen_shares=value.screen_shares,
            premium_videos=value.premium_videos,
        )


@strawberry.type(description="A price of a plan: what Checkout charges (Stripe's Price).")
class Price:
    id: strawberry.ID = strawberry.field(description="The Stripe Price id (price_...).")
    interval: BillingInterval
    amount: int = strawberry.field(description="In the currency's smallest unit (cents).")
    currency: str = strawberry.field(description="ISO 4217, lower case (usd).")


@strawberry.type(description="A plan of the catalog.")
class Plan:
    id: PlanId
    name: str
    prices: list[Price] = strawberry.field(description="Empty for the free plan.")
    entitlements: Entitlements

    @classmethod
    def of(
        cls,
        plan: catalog.Plan,
        price_ids: dict[models.BillingInterval, str],
        entitlements: catalog.Entitlements,
    ) -> Plan:
        return cls(
            id=plan.id,
            name=plan.name,
            prices=[
                Price(
                    id=strawberry.ID(price_ids[p.interval]),
                    interval=p.interval,
                    amount=p.amount,
                    currency=p.currency,
                )
                for p in plan.prices
                if p.interval in price_ids
            ],
            entitlements=Entitlements.of(plan.id, entitlements),
        )


@strawberry.type(description="Whether plans can be bought here, and Stripe's publishable key.")
class BillingConfig:
    enabled: bool = strawberry.field(
        description="False: billing is off on this server (nothing is gated; `plans` lists the "
        "free plan only). Hide the pricing and upgrade buttons."
    )
    publishable_key: str | None = strawberry.field(
        description="For Stripe.js (null when billing is off)."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> BillingConfig:
        enabled = settings.billing_enabled
        key = settings.stripe_publishable_key.strip() if enabled else ""
        return cls(enabled=enabled, publishable_key=key or None)


@strawberry.type(
    name="BillingSubscription",
    description="A subscription of the viewer's (a Stripe one, or a comp granted by support).",
)
class BillingSubscription:
    id: strawberry.ID
    plan: PlanId
    status: SubscriptionStatus
    interval: BillingInterval | None = strawberry.field(description="Null for a comp.")
    current_period_end: datetime | None = strawberry.field(
        description="When the current period ends (renewal, or the end when canceling)."
    )
    cancel_at_period_end: bool
    trial_end: datetime | None
    source: SubscriptionSource
    comp_until: datetime | None = strawberry.field(
        description="A comp's end (null: not a comp, or a comp for good)."
    )

    @classmethod
    def of(cls, row: models.Subscription) -> BillingSubscription:
        return cls(
            id=strawberry.ID(str(row.id)),
            plan=row.plan,
            status=row.status,
            interval=row.interval,
            current_period_end=row.current_period_end,
            cancel_at_period_end=bool(row.cancel_at_period_end),
            trial_end=row.trial_end,
            source=row.source,
            comp_until=row.comp_until,
        )


@strawberry.type(
    description="The viewer's plan or limits changed (a payment, a cancellation, a grace period, "
    "a comp): the entitlements that apply now. Re-read `me.subscription` for the details."
)
class EntitlementsChanged:
    plan: PlanId
    entitlements: Entitlements


def render_entitlements_changed(event: EntitlementsChangedEvent) -> EntitlementsChanged:
    plan = models.PlanId(event.plan)
    value = catalog.Entitlements(**event.entitlements)
    return EntitlementsChanged(plan=plan, entitlements=Entitlements.of(plan, value))


# Stream renderers of billing's events (`notificationEvents`; registered by `schema.py`).
RENDERERS: dict[type[Event], Callable[[Any], Any]] = {
    EntitlementsChangedEvent: render_entitlements_changed
}
STREAM_TYPES = (EntitlementsChanged,)
# The lists the schema bounds (the query cost model's `BOUNDED_LISTS`; registered by `schema.py`).
BOUNDED_LISTS = (("Query", "plans", len(models.PlanId)), ("Plan", "prices", len(BillingInterval)))
