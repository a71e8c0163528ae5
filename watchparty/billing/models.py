"""Billing's tables: Stripe customers, subscriptions (Stripe's and support's comps) and the
webhook inbox.

- One `BillingCustomer` per user, created once (its Stripe id is unique).
- `Subscription` rows are what entitles: a Stripe subscription (mirrored from Stripe, keyed by
  its id) or a comp granted by support (`source = COMP`, `comp_until`). A user may hold several
  (an old canceled one, a comp); the effective plan is the best one that entitles now
  (`billing.entitlements`).
- `StripeEvent` is the inbox: every verified webhook event, keyed by Stripe's event id (a
  duplicate delivery is the same row), processed by an ARQ job.

Enumerations are VARCHAR columns holding member names (like the other domains).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.errors import PlanId as PlanId  # the floor names the plans (errors.py)
from watchparty.kit.time import utcnow


class BillingInterval(StrEnum):
    MONTH = "MONTH"
    YEAR = "YEAR"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses (upper case), plus nothing of our own."""

    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    UNPAID = "UNPAID"
    CANCELED = "CANCELED"
    INCOMPLETE = "INCOMPLETE"
    INCOMPLETE_EXPIRED = "INCOMPLETE_EXPIRED"
    PAUSED = "PAUSED"


class SubscriptionSource(StrEnum):
    STRIPE = "STRIPE"
    COMP = "COMP"  # granted by support (`watchparty billing grant`)


class InboxStatus(StrEnum):
    PENDING = "PENDING"  # stored, not processed yet (or failed and will be retried)
    PROCESSED = "PROCESSED"
    IGNORED = "IGNORED"  # a type we do not handle: stored and acknowledged
    FAILED = "FAILED"  # retries used up: `watchparty billing replay` it


def _enum(cls: type[StrEnum], length: int) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=False, length=length)


class BillingCustomer(TimestampMixin, Base):
    __tablename__ = "billing_customers"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class Subscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_user", "user_id", "status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[SubscriptionSource] = mapped_column(_enum(SubscriptionSource, 10))
    plan: Mapped[PlanId] = mapped_column(_enum(PlanId, 20))
    interval: Mapped[BillingInterval | None] = mapped_column(_enum(BillingInterval, 10))
    status: Mapped[SubscriptionStatus] = mapped_column(_enum(SubscriptionStatus, 20))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_price_id: Mapped[str | None] = mapped_column(String(255))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    trial_end: Mapped[datetime | None]
    # When it became PAST_DUE (the grace period counts from here); None otherwise.
    past_due_since: Mapped[datetime | None]
    # Comps: until when, why, and who granted it.
    comp_until: Mapped[datetime | None]
    comp_note: Mapped[str | None] = mapped_column(String(500))
    granted_by: Mapped[str | None] = mapped_column(String(320))
    # The Stripe object's version we hold: the `created` time of the event (or read) that last
    # wrote it. An older event never overwrites a newer state (out-of-order deliveries).
    stripe_synced_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StripeEvent(TimestampMixin, Base):
    """A webhook event as Stripe sent it (verified), processed at most once successfully."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_status", "status", "received_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's evt_...
    type: Mapped[str] = mapped_column(String(100))
    stripe_created_at: Mapped[datetime]  # the event's own `created`
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[InboxStatus] = mapped_column(_enum(InboxStatus, 10), default=InboxStatus.PENDING)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
