"""Plans, `billingConfig`, `me.subscription` / `mySubscription` and `me.entitlements` through
GraphQL, with billing off (every other test's app) and on; who sees whose subscription; the
PAST_DUE grace period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.billing_support import GIB, billing_api, set_status, subscribe
from tests.parties_ops import Person, create_party, joined, person
from tests.support import Api
from watchparty.billing.models import PlanId, SubscriptionStatus
from watchparty.kit.time import utcnow

__all__ = ["billing_api"]

ENTITLEMENTS = (
    "plan partyMembers hostedParties storageBytes uploadBytes processingHeight screenShares "
    "premiumVideos"
)
PLANS = f"""{{ plans {{ id name prices {{ id interval amount currency }}
    entitlements {{ {ENTITLEMENTS} }} }} billingConfig {{ enabled publishableKey }} }}"""
SUBSCRIPTION = (
    "id plan status interval currentPeriodEnd cancelAtPeriodEnd trialEnd source compUntil"
)
ME = f"""{{ me {{ id subscription {{ {SUBSCRIPTION} }} entitlements {{ {ENTITLEMENTS} }} }}
    mySubscription {{ id plan status }} }}"""

FREE = {
    "plan": "FREE",
    "partyMembers": 20,
    "hostedParties": 2,
    "storageBytes": 2.0 * GIB,
    "uploadBytes": 1.0 * GIB,
    "processingHeight": 720,
    "screenShares": 1,
    "premiumVideos": False,
}
PLUS = {
    "plan": "PLUS",
    "partyMembers": 100,
    "hostedParties": 5,
    "storageBytes": 50.0 * GIB,
    "uploadBytes": 5.0 * GIB,
    "processingHeight": 1080,
    "screenShares": 2,
    "premiumVideos": True,
}
PREMIUM = {
    "plan": "PREMIUM",
    "partyMembers": 1000,
    "hostedParties": 20,
    "storageBytes": 500.0 * GIB,
    "uploadBytes": 20.0 * GIB,
    "processingHeight": 1080,
    "screenShares": 4,
    "premiumVideos": True,
}
HOST_LIMITS = {
    "plan": "FREE",
    "partyMembers": 1000,
    "hostedParties": 1000,
    "storageBytes": 1024.0**5,
    "uploadBytes": 1024.0 * GIB,
    "processingHeight": 2160,
    "screenShares": 10,
    "premiumVideos": True,
}


async def me(api: Api, who: Person | None) -> Any:
    return (await api.gql(ME, token=None if who is None else who.token)).data


async def test_billing_off_shows_the_free_plan_with_the_servers_limits(any_api: Api) -> None:
    data = (await any_api.gql(PLANS)).data
    assert data == {
        "plans": [{"id": "FREE", "name": "Free", "prices": [], "entitlements": HOST_LIMITS}],
        "billingConfig": {"enabled": False, "publishableKey": None},
    }
    alice = await person(any_api, "Alice")
    mine = await me(any_api, alice)
    assert mine["me"]["subscription"] is None
    assert mine["me"]["entitlements"] == HOST_LIMITS
    assert mine["mySubscription"] is None


async def test_billing_on_lists_every_plan_with_its_stripe_prices(billing_api: Api) -> None:
    data = (await billing_api.gql(PLANS)).data  # anonymous: public
    assert data["billingConfig"] == {"enabled": True, "publishableKey": "pk_test_x"}
    assert data["plans"] == [
        {"id": "FREE", "name": "Free", "prices": [], "entitlements": FREE},
        {
            "id": "PLUS",
            "name": "Plus",
            "prices": [
                {"id": "price_plus_monthly", "interval": "MONTH", "amount": 499, "currency": "usd"},
                {"id": "price_plus_yearly", "interval": "YEAR", "amount": 4990, "currency": "usd"},
            ],
            "entitlements": PLUS,
        },
        {
            "id": "PREMIUM",
            "name": "Premium",
            "prices": [
                {
                    "id": "price_premium_monthly",
                    "interval": "MONTH",
                    "amount": 999,
                    "currency": "usd",
                },
                {
                    "id": "price_premium_yearly",
                    "interval": "YEAR",
                    "amount": 9990,
                    "currency": "usd",
                },
            ],
            "entitlements": PREMIUM,
        },
    ]


async def test_me_subscription_and_entitlements(billing_api: Api) -> None:
    alice = await person(billing_api, "Alice")
    data = await me(billing_api, alice)
    assert data["me"]["subscription"] is None
    assert data["me"]["entitlements"] == FREE
    assert data["mySubscription"] is None

    row_id = await subscribe(billing_api, alice, PlanId.PLUS)
    data = await me(billing_api, alice)
    sub = data["me"]["subscription"]
    assert {k: sub[k] for k in ("id", "plan", "status", "interval", "source")} == {
        "id": str(row_id),
        "plan": "PLUS",
        "status": "ACTIVE",
        "interval": "MONTH",
        "source": "STRIPE",
    }
    assert (sub["cancelAtPeriodEnd"], sub["trialEnd"], sub["compUntil"]) == (False, None, None)
    assert sub["currentPeriodEnd"] is not None
    assert data["me"]["entitlements"] == PLUS
    assert data["mySubscription"] == {"id": str(row_id), "plan": "PLUS", "status": "ACTIVE"}

    # The best plan a person holds applies; a canceled one entitles nothing.
    premium = await subscribe(billing_api, alice, PlanId.PREMIUM)
    assert (await me(billing_api, alice))["me"]["entitlements"] == PREMIUM
    await set_status(billing_api, premium, SubscriptionStatus.CANCELED)
    await set_status(billing_api, row_id, SubscriptionStatus.INCOMPLETE_EXPIRED)
    data = await me(billing_api, alice)
    assert (data["me"]["subscription"], data["me"]["entitlements"]) == (None, FREE)


async def test_nobody_sees_another_persons_subscription_or_entitlements(billing_api: Api) -> None:
    host = await person(billing_api, "Host")
    member = await person(billing_api, "Member")
    await subscribe(billing_api, host, PlanId.PREMIUM)
    party = await create_party(billing_api, host)
    await joined(billing_api, member, code=party["code"])
    query = """query($id: ID!) { party(id: $id) {
        host { id subscription { id } entitlements { plan } }
        members { edges { node { user { id subscription { id } entitlements { plan } } } } }
    } }"""
    seen = (await billing_api.gql(query, {"id": party["id"]}, token=member.token)).data["party"]
    assert seen["host"] == {"id": host.id, "subscription": None, "entitlements": None}
    users = {e["node"]["user"]["id"]: e["node"]["user"] for e in seen["members"]["edges"]}
    assert users[host.id] == {"id": host.id, "subscription": None, "entitlements": None}
    assert users[member.id] == {"id": member.id, "subscription": None, "entitlements": None}
    # The host sees their own through the same field.
    own = (await billing_api.gql(query, {"id": party["id"]}, token=host.token)).data["party"]
    assert own["host"]["entitlements"] == {"plan": "PREMIUM"}
    assert own["host"]["subscription"] is not None
    # Anonymous: no `me`, no subscription.
    assert await me(billing_api, None) == {"me": None, "mySubscription": None}


async def test_past_due_keeps_the_plan_during_the_grace_period_then_falls_back(
    billing_api: Api,
) -> None:
    assert billing_api.settings.billing_past_due_grace_days == 7.0
    alice = await person(billing_api, "Alice")
    row_id = await subscribe(
        billing_api,
        alice,
        PlanId.PREMIUM,
        status=SubscriptionStatus.PAST_DUE,
        past_due_since=utcnow() - timedelta(days=6, hours=23),
    )
    data = await me(billing_api, alice)
    assert data["me"]["entitlements"] == PREMIUM
    assert (data["me"]["subscription"]["id"], data["me"]["subscription"]["status"]) == (
        str(row_id),
        "PAST_DUE",
    )
    # Grace over: FREE applies; the subscription still shows (its payment needs fixing).
    await set_status(
        billing_api,
        row_id,
        SubscriptionStatus.PAST_DUE,
        past_due_since=utcnow() - timedelta(days=7, minutes=1),
    )
    data = await me(billing_api, alice)
    assert data["me"]["entitlements"] == FREE
    assert (data["me"]["subscription"]["id"], data["me"]["subscription"]["status"]) == (
        str(row_id),
        "PAST_DUE",
    )
    # Paid again: back to PREMIUM at once.
    await set_status(billing_api, row_id, SubscriptionStatus.ACTIVE)
    assert (await me(billing_api, alice))["me"]["entitlements"] == PREMIUM
