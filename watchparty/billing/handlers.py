"""What each Stripe event does. No HTTP, no GraphQL.

Out of order, late and repeated deliveries: **the event only says which subscription to look
at**. `prepare` reads that subscription from Stripe (GET /v1/subscriptions/:id, outside any
transaction) and `apply` writes what Stripe holds now, whatever the event's own snapshot says:
`.updated` before `.created`, or `.deleted` before an `.updated`, all end in Stripe's current
state. Two reads racing (two events of one subscription processed at once) are ordered by
`Subscription.stripe_synced_at` (when the read was made, under the row's lock): an older read
never overwrites a newer one. If Stripe no longer has the subscription (404), the event's
snapshot is used, with the same guard by the event's `created`.

Handled: `checkout.session.completed` (links the customer to the user of
`client_reference_id`, syncs its subscription), `customer.subscription.created|updated|deleted`
(sync), `customer.subscription.trial_will_end` (sync, TRIAL_ENDING), `invoice.paid`
(PAYMENT_SUCCEEDED when something was charged), `invoice.payment_failed` (PAYMENT_FAILED),
`invoice.payment_action_required` (PAYMENT_ACTION_REQUIRED: the bank wants the payer to confirm,
e.g. 3-D Secure). Invoices sync their subscription too (a paid invoice ends PAST_DUE). Anything
else is IGNORED; so is an event about a customer or price that is not ours (with a note).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from watchparty.accounts.models import User
from watchparty.billing import service
from watchparty.billing.entitlements import effective
from watchparty.billing.models import (
    BillingCustomer,
    InboxStatus,
    StripeEvent,
    Subscription,
    SubscriptionSource,
    SubscriptionStatus,
)
from watchparty.billing.plans import CATALOG, plan_of_price
from watchparty.billing.stripe_api import StripeNotFound, stripe_api
from watchparty.db import UnitOfWork, upsert_insert
from watchparty.kit.time import utcnow
from watchparty.notifications.models import NotificationKind, SubjectType
from watchparty.notifications.service import Subject, notify
from watchparty.state import AppState

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
    }
)
INVOICE_KINDS = {
    "invoice.paid": NotificationKind.PAYMENT_SUCCEEDED,
    "invoice.payment_failed": NotificationKind.PAYMENT_FAILED,
    "invoice.payment_action_required": NotificationKind.PAYMENT_ACTION_REQUIRED,
}
HANDLED = SUBSCRIPTION_EVENTS | set(INVOICE_KINDS) | {"checkout.session.completed"}
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof"})
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


@dataclass(frozen=True, slots=True)
class Prepared:
    """What was read from Stripe before the transaction: the subscription now (or None)."""

    subscription: dict[str, Any] | None
    read_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    status: InboxStatus
    note: str | None = None


def _object(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def _id(value: Any) -> str | None:
    """An id field that may be expanded (an object with an id) or not (a string)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def subscription_id(kind: str, payload: dict[str, Any]) -> str | None:
    obj = _object(payload)
    if kind in SUBSCRIPTION_EVENTS:
        return _id(obj.get("id"))
    if kind == "checkout.session.completed":
        return _id(obj.get("subscription"))
    if kind in INVOICE_KINDS:
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {} if isinstance(parent, dict) else {}
        return _id(details.get("subscription")) or _id(obj.get("subscription"))
    return None


async def prepare(state: AppState, kind: str, payload: dict[str, Any]) -> Prepared:
    """Read what the event is about from Stripe (no database, no transaction open)."""
    sub_id = subscription_id(kind, payload) if kind in HANDLED else None
    read_at = utcnow()
    if sub_id is None:
        return Prepared(None, read_at)
    try:
        return Prepared(await stripe_api(state).retrieve_subscription(sub_id), read_at)
    except StripeNotFound:
        if kind in SUBSCRIPTION_EVENTS:  # gone from Stripe: the event's snapshot is all there is
            created = payload.get("created")
            when = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else read_at
            return Prepared(_object(payload), when)
        return Prepared(None, read_at)


async def apply(uow: UnitOfWork, event: StripeEvent, prepared: Prepared) -> Outcome:
    """The event's effects, in the unit of work that marks it processed."""
    kind = event.type
    if kind not in HANDLED:
        return Outcome(InboxStatus.IGNORED)
    obj = _object(event.payload)
    notes: list[str] = []
    if kind == "checkout.session.completed":
        note = await _link_customer(uow, obj)
        if note:
            notes.append(note)
    row: Subscription | None = None
    if prepared.subscription is not None:
        row, note = await sync_subscription(uow, prepared.subscription, prepared.read_at)
        if note:
            notes.append(note)
    if kind == "customer.subscription.trial_will_end" and row is not None:
        await _trial_ending(uow, row)
    elif kind in INVOICE_KINDS:
        note = await _invoice(uow, INVOICE_KINDS[kind], obj, row)
        if note:
            notes.append(note)
    note_text = "; ".join(notes) or None
    if kind in SUBSCRIPTION_EVENTS and row is None:
        return Outcome(InboxStatus.IGNORED, note_text)
    return Outcome(InboxStatus.PROCESSED, note_text)


# -- customers ---------------------------------------------------------------------------------


async def _user_of_customer(uow: UnitOfWork, customer_id: str | None) -> uuid.UUID | None:
    if customer_id is None:
        return None
    found: uuid.UUID | None = await uow.session.scalar(
        select(BillingCustomer.user_id).where(BillingCustomer.stripe_customer_id == customer_id)
    )
    return found


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _link_customer(uow: UnitOfWork, session_obj: dict[str, Any]) -> str | None:
    """A completed Checkout: its customer is the user of `client_reference_id` (normally
    stored already by createCheckoutSession; this covers a customer Stripe created)."""
    customer_id = _id(session_obj.get("customer"))
    user_id = _uuid(session_obj.get("client_reference_id"))
    if customer_id is None or user_id is None:
        return "checkout session without customer or client_reference_id"
    session = uow.session
    if await session.get(User, user_id) is None:
        return "checkout session of an unknown user"
    insert = upsert_insert(session)
    await session.execute(
        insert(BillingCustomer)
        .values(user_id=user_id, stripe_customer_id=customer_id, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    return None


# -- subscriptions -----------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _first_item(sub: dict[str, Any]) -> dict[str, Any]:
    items = sub.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}


def _status(value: Any) -> SubscriptionStatus | None:
    try:
        return SubscriptionStatus(str(value).upper())
    except ValueError:
        return None


async def _locked(uow: UnitOfWork, stripe_id: str) -> Subscription | None:
    found: Subscription | None = await uow.session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == stripe_id)
        .with_for_update()
    )
    return found


async def sync_subscription(
    uow: UnitOfWork, sub: dict[str, Any], read_at: datetime
) -> tuple[Subscription | None, str | None]:
    """Write Stripe's state of `sub` (read at `read_at`) onto our row; notify and announce a
    change. (None, note) when it is not ours (unknown customer, price not in the catalog)."""
    settings = uow.app.settings
    stripe_id = _id(sub.get("id"))
    user_id = await _user_of_customer(uow, _id(sub.get("customer")))
    if user_id is None:
        metadata = sub.get("metadata") or {}
        candidate = _uuid(metadata.get("userId")) if isinstance(metadata, dict) else None
        if candidate is not None and await uow.session.get(User, candidate) is not None:
            user_id = candidate
    item = _first_item(sub)
    price = _id(item.get("price"))
    found = None if price is None else plan_of_price(settings, price)
    status = _status(sub.get("status"))
    if stripe_id is None or user_id is None:
        return None, "subscription of an unknown customer"
    if found is None or status is None:
        return None, f"subscription with a price not in the catalog ({price})"
    plan, interval = found
    row = await _locked(uow, stripe_id)
    if row is None:
        insert = upsert_insert(uow.session)
        now = utcnow()
        await uow.session.execute(
            insert(Subscription)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                source=SubscriptionSource.STRIPE,
                plan=plan,
                interval=interval,
                status=status,
                stripe_subscription_id=stripe_id,
                cancel_at_period_end=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["stripe_subscription_id"])
        )
        row = await _locked(uow, stripe_id)
        assert row is not None
        before = None
    else:
        if row.stripe_synced_at is not None and row.stripe_synced_at > read_at:
            return row, "a newer read of this subscription was written already"
        before = (row.plan, row.status, row.cancel_at_period_end)
    if status is SubscriptionStatus.PAST_DUE:
        if row.status is not SubscriptionStatus.PAST_DUE or row.past_due_since is None:
            row.past_due_since = read_at
    else:
        row.past_due_since = None
    row.plan, row.interval, row.status = plan, interval, status
    row.stripe_price_id = price
    row.current_period_end = _time(item.get("current_period_end")) or _time(
        sub.get("current_period_end")
    )
    row.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    row.trial_end = _time(sub.get("trial_end"))
    row.stripe_synced_at = read_at
    await uow.session.flush()
    if before != (row.plan, row.status, row.cancel_at_period_end):
        await _subscription_changed(uow, row)
    return row, None


async def _subscription_changed(uow: UnitOfWork, row: Subscription) -> None:
    now = utcnow()
    plan = (await effective(uow.session, row.user_id, uow.app.settings, now)).plan
    await notify(
        uow,
        [row.user_id],
        NotificationKind.SUBSCRIPTION_CHANGED,
        subject=Subject(SubjectType.SUBSCRIPTION, str(row.id)),
        data={"plan": CATALOG[plan].name},
        group_key=f"subscription:{row.id}",
    )
    await service.subscription_changed(uow, row.user_id)


async def _trial_ending(uow: UnitOfWork, row: Subscription) -> None:
    if row.trial_end is None or row.status is not SubscriptionStatus.TRIALING:
        return
    days = max(1, math.ceil((row.trial_end - utcnow()) / timedelta(days=1)))
    await notify(
        uow,
        [row.user_id],
        NotificationKind.TRIAL_ENDING,
        subject=Subject(SubjectType.SUBSCRIPTION, str(row.id)),
        data={"days": days},
        group_key=f"trial-ending:{row.id}",
    )


# -- invoices ----------------------------------------------------------------------------------


def format_amount(amount: int, currency: str) -> str:
    """4.99 USD as "$4.99"; zero-decimal currencies without decimals; others "4.99 CHF"."""
    currency = currency.lower()
    value = f"{amount:,}" if currency in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


async def _invoice(
    uow: UnitOfWork, kind: NotificationKind, invoice: dict[str, Any], row: Subscription | None
) -> str | None:
    user_id = row.user_id if row is not None else None
    if user_id is None:
        user_id = await _user_of_customer(uow, _id(invoice.get("customer")))
    if user_id is None:
        return "invoice of an unknown customer"
    field = "amount_paid" if kind is NotificationKind.PAYMENT_SUCCEEDED else "amount_due"
    amount = invoice.get(field)
    currency = invoice.get("currency")
    if not isinstance(amount, int) or not isinstance(currency, str):
        return "invoice without amount or currency"
    if kind is NotificationKind.PAYMENT_SUCCEEDED and amount == 0:
        return None  # a trial's or a fully discounted invoice: nothing was paid
    invoice_id = _id(invoice.get("id")) or "unknown"
    await notify(
        uow,
        [user_id],
        kind,
        subject=None if row is None else Subject(SubjectType.SUBSCRIPTION, str(row.id)),
        data={"amount": format_amount(amount, currency)},
        # Stripe retries a failing charge several times: one entry per invoice while unread.
        group_key=None if kind is NotificationKind.PAYMENT_SUCCEEDED else f"{kind}:{invoice_id}",
    )
    return None
