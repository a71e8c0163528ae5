"""Subscriptions as the API and support read and write them: the current one, comps (support's
grants), and the one announcement every change makes.

- `subscription_changed(uow, user_id)`: call it in the unit of work of any write to a user's
  subscription rows (comps here, Stripe's webhook processing): it records `EntitlementsChanged`
  on the user's channel, so every process's `notificationEvents` subscribers of that user hear
  the plan and limits that apply now, once the change commits. Queries need nothing: the
  effective plan is read from the database on every request.
- A comp is a `Subscription` row with source COMP, status ACTIVE and `comp_until`, recorded with
  a note and who granted it. One comp per user at a time: granting again replaces its plan,
  end, note and grantor; revoking cancels it (the row stays, for the record).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.accounts.service import find_user_by_email
from watchparty.billing.entitlements import ENTITLING, Effective, effective
from watchparty.billing.events import EntitlementsChanged
from watchparty.billing.models import PlanId, Subscription, SubscriptionSource, SubscriptionStatus
from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.errors import NotFound, ValidationProblem
from watchparty.events import record
from watchparty.kit.time import utcnow
from watchparty.notifications.events import user_channel

NOTE_MAX = 500
GRANTOR_MAX = 320
# Stripe states that say something still needs doing (shown when nothing entitles).
OPEN_STATES = frozenset(
    {SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE}
)


async def subscription_changed(uow: UnitOfWork, user_id: uuid.UUID) -> Effective:
    """Announce `user_id`'s effective plan now on their channel (after the caller's writes are
    flushed; published once the unit commits)."""
    await uow.session.flush()
    now = await effective(uow.session, user_id, uow.app.settings, utcnow())
    await record(
        uow,
        user_channel(user_id),
        EntitlementsChanged(plan=now.plan.value, entitlements=asdict(now.entitlements)),
    )
    return now


async def subscriptions_of(session: AsyncSession, user_id: uuid.UUID) -> list[Subscription]:
    """Every subscription row of the user, oldest first (support's view)."""
    rows = await session.scalars(
        select(Subscription)
        .where(Subscription.user_id == user_id)
        .order_by(Subscription.created_at, Subscription.id)
    )
    return list(rows)


async def current_subscription(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, now: datetime
) -> Subscription | None:
    """The subscription a person sees as theirs: the one that entitles now (the best plan), else
    the latest Stripe one that still needs something (PAST_DUE after its grace, UNPAID,
    INCOMPLETE: the frontend asks to fix the payment); None otherwise and when billing is off."""
    if not settings.billing_enabled:
        return None
    found = await effective(session, user_id, settings, now)
    if found.subscription is not None:
        return found.subscription
    return await session.scalar(
        select(Subscription)
        .where(
            Subscription.user_id == user_id,
            Subscription.source == SubscriptionSource.STRIPE,
            Subscription.status.in_(OPEN_STATES),
        )
        .order_by(Subscription.updated_at.desc(), Subscription.id)
        .limit(1)
    )


async def _user(session: AsyncSession, email: str) -> User:
    user = await find_user_by_email(session, email.strip())
    if user is None:
        raise NotFound(f"No account has the email {email}.", field="email")
    return user


async def _active_comp(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    return await session.scalar(
        select(Subscription)
        .where(
            Subscription.user_id == user_id,
            Subscription.source == SubscriptionSource.COMP,
            Subscription.status.in_(ENTITLING),
        )
        .order_by(Subscription.created_at.desc())
        .limit(1)
        .with_for_update()
    )


async def grant(
    uow: UnitOfWork,
    email: str,
    plan: PlanId,
    *,
    until: datetime,
    note: str | None,
    granted_by: str,
) -> Subscription:
    """Give `email`'s account `plan` until `until` (support). Replaces their comp if they have
    one; a Stripe subscription is left alone (the better plan applies)."""
    if plan is PlanId.FREE:
        raise ValidationProblem("Grant a paid plan (PLUS or PREMIUM).", field="plan")
    now = utcnow()
    if until <= now:
        raise ValidationProblem("The grant must end in the future.", field="until")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ValidationProblem(f"A note of at most {NOTE_MAX} characters.", field="note")
    by = granted_by.strip()[:GRANTOR_MAX] or "unknown"
    user = await _user(uow.session, email)
    comp = await _active_comp(uow.session, user.id)
    if comp is None:
        comp = Subscription(
            user_id=user.id,
            source=SubscriptionSource.COMP,
            status=SubscriptionStatus.ACTIVE,
            cancel_at_period_end=False,
        )
        uow.session.add(comp)
    comp.plan = plan
    comp.interval = None
    comp.comp_until = until
    comp.current_period_end = until
    comp.comp_note = note
    comp.granted_by = by
    await subscription_changed(uow, user.id)
    return comp


async def revoke_grant(uow: UnitOfWork, email: str) -> Subscription:
    """End `email`'s comp now (CANCELED; the row stays, with who granted it)."""
    user = await _user(uow.session, email)
    comp = await _active_comp(uow.session, user.id)
    if comp is None:
        raise NotFound(f"{user.email} has no grant.", field="email")
    comp.status = SubscriptionStatus.CANCELED
    comp.comp_until = min(comp.comp_until or utcnow(), utcnow())
    await subscription_changed(uow, user.id)
    return comp


async def user_and_subscriptions(
    session: AsyncSession, email: str
) -> tuple[User, list[Subscription]]:
    user = await _user(session, email)
    return user, await subscriptions_of(session, user.id)
