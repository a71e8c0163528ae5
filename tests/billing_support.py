"""Apps with billing on (a Stripe secret key and price ids in the settings; this slice makes no
Stripe call), and subscription rows written the way webhook processing or a comp leaves them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.ops_support import scratch_database
from tests.parties_ops import Person
from tests.support import Api, make_settings, running_app
from watchparty.billing.models import (
    BillingInterval,
    PlanId,
    Subscription,
    SubscriptionSource,
    SubscriptionStatus,
)
from watchparty.kit.time import utcnow

GIB = 1024**3
PRICES = {
    "stripe_price_plus_monthly": "price_plus_monthly",
    "stripe_price_plus_yearly": "price_plus_yearly",
    "stripe_price_premium_monthly": "price_premium_monthly",
    "stripe_price_premium_yearly": "price_premium_yearly",
}
BILLING_ON: dict[str, Any] = {
    "stripe_secret_key": "sk_test_x",
    "stripe_publishable_key": "pk_test_x",
    **PRICES,
}


async def billing_app(mode: str, tmp: Path, **overrides: Any) -> AsyncIterator[Api]:
    """An app with billing on: on its own PostgreSQL database, or embedded."""
    values = {**BILLING_ON, **overrides}
    if mode == "embedded":
        settings = make_settings("embedded", database_url="", tmp=tmp, **values)
        async with running_app(settings) as api:
            yield api
        return
    async with scratch_database() as url:
        settings = make_settings("postgres", database_url=url, tmp=tmp, **values)
        async with running_app(settings) as api:
            yield api


@pytest.fixture(scope="module", params=["postgres", "embedded"])
async def billing_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    async for api in billing_app(request.param, tmp_path_factory.mktemp("billing")):
        yield api


async def subscribe(
    api: Api,
    who: Person,
    plan: PlanId,
    *,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    past_due_since: datetime | None = None,
) -> uuid.UUID:
    """A Stripe subscription row of `who`'s (what webhook processing writes)."""
    row_id = uuid.uuid4()
    async with api.state.unit_of_work() as uow:
        uow.session.add(
            Subscription(
                id=row_id,
                user_id=uuid.UUID(who.id),
                source=SubscriptionSource.STRIPE,
                plan=plan,
                interval=BillingInterval.MONTH,
                status=status,
                stripe_subscription_id=f"sub_{row_id.hex[:16]}",
                stripe_price_id=f"price_{plan.value.lower()}_monthly",
                current_period_end=utcnow() + timedelta(days=20),
                cancel_at_period_end=False,
                past_due_since=past_due_since,
            )
        )
    return row_id


async def set_status(
    api: Api,
    row_id: uuid.UUID,
    status: SubscriptionStatus,
    past_due_since: datetime | None = None,
) -> None:
    async with api.state.unit_of_work() as uow:
        row = await uow.session.get(Subscription, row_id)
        assert row is not None
        row.status = status
        row.past_due_since = past_due_since


def plan_error(
    limit: str,
    value: float,
    plan: str,
    upgrade_to: str | None,
    message: str,
    field: str | None = None,
) -> dict[str, Any]:
    return {
        "__typename": "PlanLimitExceeded",
        "code": "PLAN_LIMIT_EXCEEDED",
        "message": message,
        "field": field,
        "limit": limit,
        "value": value,
        "plan": plan,
        "upgradeTo": upgrade_to,
    }


PLAN_ERROR = "... on PlanLimitExceeded { limit value plan upgradeTo }"
# The party mutations whose union offers PlanLimitExceeded.
PLAN_MUTATIONS = frozenset({"createParty", "updateParty", "joinParty", "approveMember"})


async def party_mutation(api: Api, name: str, token: str | None, **input: Any) -> dict[str, Any]:
    """A party mutation (`parties_ops.MUTATIONS`) with PlanLimitExceeded's fields selected."""
    from tests.parties_ops import ERRORS, EXTRA_ERRORS, MUTATIONS

    input_type, selection = MUTATIONS[name]
    plan_error = PLAN_ERROR if name in PLAN_MUTATIONS else ""
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        f"{selection} {ERRORS} {EXTRA_ERRORS.get(name, '')} {plan_error} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=token)
    payload: dict[str, Any] = result.data[name]
    return payload
