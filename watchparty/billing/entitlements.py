"""A user's effective plan and limits right now, read from the database on every request (so
a change written by any process, a webhook or a comp, applies at once everywhere; no cache).

Which subscriptions entitle (the best plan among them applies; none: FREE):
- a Stripe subscription TRIALING or ACTIVE;
- PAST_DUE while `BILLING_PAST_DUE_GRACE_DAYS` have not passed since it became past due;
- CANCELED / UNPAID / INCOMPLETE / INCOMPLETE_EXPIRED / PAUSED: never (a subscription canceled
  "at period end" stays ACTIVE in Stripe until then, so it keeps entitling until then);
- a comp until its `comp_until` (None: for good).
A downgrade never deletes anything: the limits apply to new use only (the consuming operations
check them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.billing.models import (
    PlanId,
    Subscription,
    SubscriptionSource,
    SubscriptionStatus,
)
from watchparty.billing.plans import CATALOG, Entitlements, plan_entitlements
from watchparty.config import Settings

ENTITLING = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE})


@dataclass(frozen=True, slots=True)
class Effective:
    plan: PlanId
    entitlements: Entitlements
    subscription: Subscription | None  # the one that entitles (None: FREE)


def entitles(row: Subscription, settings: Settings, now: datetime) -> bool:
    if row.source is SubscriptionSource.COMP:
        return row.status in ENTITLING and (row.comp_until is None or row.comp_until > now)
    if row.status in ENTITLING:
        return True
    if row.status is SubscriptionStatus.PAST_DUE:
        since = row.past_due_since or now
        return now - since < timedelta(days=settings.billing_past_due_grace_days)
    return False


def best(rows: Iterable[Subscription], settings: Settings, now: datetime) -> Effective:
    winner: Subscription | None = None
    for row in rows:
        if not entitles(row, settings, now):
            continue
        if winner is None or CATALOG[row.plan].rank > CATALOG[winner.plan].rank:
            winner = row
    plan = PlanId.FREE if winner is None else winner.plan
    return Effective(plan, plan_entitlements(plan, settings), winner)


async def effective_many(
    session: AsyncSession, user_ids: Iterable[uuid.UUID], settings: Settings, now: datetime
) -> dict[uuid.UUID, Effective]:
    """Every user's effective plan in one statement."""
    ids = list(dict.fromkeys(user_ids))
    rows: dict[uuid.UUID, list[Subscription]] = {user_id: [] for user_id in ids}
    if settings.billing_enabled and ids:
        found = await session.scalars(
            select(Subscription).where(
                Subscription.user_id.in_(ids),
                Subscription.status.in_([*ENTITLING, SubscriptionStatus.PAST_DUE]),
            )
        )
        for row in found:
            rows[row.user_id].append(row)
    return {user_id: best(rows[user_id], settings, now) for user_id in ids}


async def effective(
    session: AsyncSession, user_id: uuid.UUID, settings: Settings, now: datetime
) -> Effective:
    return (await effective_many(session, [user_id], settings, now))[user_id]
