"""Billing's queries and its fields of `User` (`subscription`, `entitlements`: the user's own
only, null for anybody else), contributed by the composition root (`schema.py`)."""

from __future__ import annotations

import uuid

import strawberry

from watchparty.accounts.types import User
from watchparty.billing import service
from watchparty.billing.loaders import effective_of
from watchparty.billing.models import BillingInterval
from watchparty.billing.plans import available_plans, plan_entitlements, price_id
from watchparty.billing.types import BillingConfig, BillingSubscription, Entitlements, Plan
from watchparty.context import Info
from watchparty.gql.cache_hints import CONFIG_MAX_AGE, public_cache
from watchparty.kit.time import utcnow


async def _subscription(info: Info, user_id: uuid.UUID) -> BillingSubscription | None:
    state = info.context.state
    async with state.sessionmaker() as session:
        row = await service.current_subscription(session, state.settings, user_id, utcnow())
    return None if row is None else BillingSubscription.of(row)


@strawberry.type
class BillingQueries:
    @strawberry.field(
        description="The plans on offer, cheapest first: the free plan always, paid plans with "
        "their prices when billing is on (off: the free plan with this server's own limits). "
        "Public; the same for everybody.",
        metadata=public_cache(CONFIG_MAX_AGE),
    )
    def plans(self, info: Info) -> list[Plan]:
        settings = info.context.state.settings
        found = []
        for plan in available_plans(settings):
            ids = {i: price_id(settings, plan.id, i) for i in BillingInterval}
            prices = {i: v for i, v in ids.items() if v is not None}
            found.append(Plan.of(plan, prices, plan_entitlements(plan.id, settings)))
        return found

    @strawberry.field(
        description="Whether billing is on, and Stripe's publishable key. Public.",
        metadata=public_cache(CONFIG_MAX_AGE),
    )
    def billing_config(self, info: Info) -> BillingConfig:
        return BillingConfig.from_settings(info.context.state.settings)

    @strawberry.field(
        description="The viewer's subscription (`me.subscription`); null when anonymous or "
        "without one."
    )
    async def my_subscription(self, info: Info) -> BillingSubscription | None:
        viewer = await info.context.viewer()
        return None if viewer is None else await _subscription(info, viewer.id)


@strawberry.type
class BillingUserFields:
    @strawberry.field(
        description="The user's subscription: the one that entitles now, else one whose payment "
        "needs fixing (PAST_DUE after its grace, UNPAID, INCOMPLETE); null without one, when "
        "billing is off, and for everybody but the user."
    )
    @staticmethod
    async def subscription(root: User, info: Info) -> BillingSubscription | None:
        if not root._is_viewer:
            return None
        return await _subscription(info, uuid.UUID(str(root.id)))

    @strawberry.field(
        description="The limits that apply to the user now (never null on `me`; null for "
        "everybody but the user). With billing off: the server's own limits, plan FREE."
    )
    @staticmethod
    async def entitlements(root: User, info: Info) -> Entitlements | None:
        if not root._is_viewer:
            return None
        found = await effective_of(info, uuid.UUID(str(root.id)))
        return Entitlements.of(found.plan, found.entitlements)
