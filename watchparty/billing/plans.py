"""The plan catalog: what each plan allows and what it costs. No GraphQL, no Stripe calls.

Decision: the catalog (names, entitlements, display prices) is code, and each paid plan's
Stripe Price ids come from configuration (`STRIPE_PRICE_<PLAN>_<MONTHLY|YEARLY>`), not from a
sync of Stripe's Products: one source of truth per concern, reviewable in a diff, no network
at start. The amounts shown here must match the Prices created in the Stripe dashboard (the
README's setup says so); Stripe charges what its Price says.

When billing is off (no STRIPE_SECRET_KEY: the embedded default and self-hosting), nobody can
buy anything, so nothing is gated: the free plan's entitlements are the instance's own limits
(`HOST_LIMITS`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from watchparty.billing.models import BillingInterval, PlanId
from watchparty.config import Settings
from watchparty.errors import PlanLimit

GIB = 1024**3


Limit = PlanLimit  # each entitlement a plan bounds (named in the floor: errors.py)


@dataclass(frozen=True, slots=True)
class Entitlements:
    party_members: int
    hosted_parties: int
    storage_bytes: int
    upload_bytes: int
    processing_height: int
    screen_shares: int
    premium_videos: bool

    def value(self, limit: Limit) -> int:
        return int(getattr(self, limit.value.lower()))


assert {f.name.upper() for f in fields(Entitlements)} == {limit.value for limit in Limit}


@dataclass(frozen=True, slots=True)
class Price:
    interval: BillingInterval
    amount: int  # in the currency's smallest unit (cents)
    currency: str


@dataclass(frozen=True, slots=True)
class Plan:
    id: PlanId
    name: str
    rank: int  # higher is better: the best plan a user holds applies
    entitlements: Entitlements
    prices: tuple[Price, ...] = ()


# The instance's hard limits (parties/validation.py, videos): what "no gating" means.
HOST_LIMITS = Entitlements(
    party_members=1000,
    hosted_parties=1000,
    storage_bytes=1024 * 1024 * GIB,
    upload_bytes=1024 * GIB,  # UPLOAD_MAX_BYTES still applies
    processing_height=2160,
    screen_shares=10,
    premium_videos=True,
)

CATALOG: dict[PlanId, Plan] = {
    PlanId.FREE: Plan(
        PlanId.FREE,
        "Free",
        0,
        Entitlements(
            party_members=20,
            hosted_parties=2,
            storage_bytes=2 * GIB,
            upload_bytes=1 * GIB,
            processing_height=720,
            screen_shares=1,
            premium_videos=False,
        ),
    ),
    PlanId.PLUS: Plan(
        PlanId.PLUS,
        "Plus",
        1,
        Entitlements(
            party_members=100,
            hosted_parties=5,
            storage_bytes=50 * GIB,
            upload_bytes=5 * GIB,
            processing_height=1080,
            screen_shares=2,
            premium_videos=True,
        ),
        (Price(BillingInterval.MONTH, 499, "usd"), Price(BillingInterval.YEAR, 4990, "usd")),
    ),
    PlanId.PREMIUM: Plan(
        PlanId.PREMIUM,
        "Premium",
        2,
        Entitlements(
            party_members=1000,
            hosted_parties=20,
            storage_bytes=500 * GIB,
            upload_bytes=20 * GIB,
            processing_height=1080,
            screen_shares=4,
            premium_videos=True,
        ),
        (Price(BillingInterval.MONTH, 999, "usd"), Price(BillingInterval.YEAR, 9990, "usd")),
    ),
}


def plan_entitlements(plan: PlanId, settings: Settings) -> Entitlements:
    """What `plan` allows on this instance (everything when billing is off)."""
    if not settings.billing_enabled:
        return HOST_LIMITS
    return CATALOG[plan].entitlements


def price_id(settings: Settings, plan: PlanId, interval: BillingInterval) -> str | None:
    """The configured Stripe Price id of a paid plan and interval, or None."""
    if plan is PlanId.FREE:
        return None
    suffix = "monthly" if interval is BillingInterval.MONTH else "yearly"
    value: str = getattr(settings, f"stripe_price_{plan.value.lower()}_{suffix}")
    return value.strip() or None


def plan_of_price(
    settings: Settings, stripe_price_id: str
) -> tuple[PlanId, BillingInterval] | None:
    """Which plan and interval a Stripe Price id is (None: not one of ours)."""
    for plan in (PlanId.PLUS, PlanId.PREMIUM):
        for interval in BillingInterval:
            if price_id(settings, plan, interval) == stripe_price_id:
                return plan, interval
    return None


def available_plans(settings: Settings) -> list[Plan]:
    """The plans a frontend shows: the free plan always; paid plans with a configured price
    (only when billing is on)."""
    plans = [CATALOG[PlanId.FREE]]
    if settings.billing_enabled:
        for plan_id in (PlanId.PLUS, PlanId.PREMIUM):
            plan = CATALOG[plan_id]
            prices = tuple(p for p in plan.prices if price_id(settings, plan_id, p.interval))
            if prices:
                plans.append(Plan(plan.id, plan.name, plan.rank, plan.entitlements, prices))
    return plans


def lifting(limit: Limit, needed: int, settings: Settings) -> PlanId | None:
    """The cheapest available plan whose `limit` allows `needed` (None: no plan does)."""
    for plan in sorted(available_plans(settings), key=lambda p: p.rank):
        if plan.entitlements.value(limit) >= needed:
            return plan.id
    return None
