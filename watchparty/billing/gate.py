"""Checking new use against a user's plan: what the consuming operations call.

`plan_of(session, settings, user_id)` is the user's effective plan now (`entitlements.effective`,
one query), or None when billing is off (nothing is gated and nothing is read). Its `require`
raises `PlanLimitExceeded` when `needed` is over the plan's value for a limit, naming the
cheapest plan that would lift it. Only new use is checked: what a user already has (members,
videos) stays whatever their plan becomes.

Parties takes `plan_of` through a registration (`parties.plan_limits`, wired by `registry.py`);
videos and voice reach it the same way or import it (billing imports neither).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.billing.entitlements import Effective, effective
from watchparty.billing.plans import CATALOG, GIB, Entitlements, Limit, lifting
from watchparty.config import Settings
from watchparty.errors import PlanId, PlanLimitExceeded
from watchparty.kit.time import utcnow


def human_bytes(value: int) -> str:
    """2147483648 -> "2 GB" (binary units, as the catalog is written)."""
    if value >= GIB and value % GIB == 0:
        return f"{value // GIB} GB"
    if value >= GIB:
        return f"{value / GIB:.1f} GB"
    return f"{value / 1024**2:.0f} MB"


def _message(limit: Limit, value: int, plan: PlanId, host: bool) -> str:
    name = CATALOG[plan].name
    whose = f"This party's host's {name} plan" if host else f"Your {name} plan"
    if limit is Limit.PARTY_MEMBERS:
        return f"{whose} allows {value} members per party."
    if limit is Limit.HOSTED_PARTIES:
        return f"{whose} allows hosting {value} parties at once; end one first."
    if limit is Limit.STORAGE_BYTES:
        return f"{whose} stores {human_bytes(value)} of videos; delete some first."
    if limit is Limit.UPLOAD_BYTES:
        return f"{whose} allows uploads of at most {human_bytes(value)}."
    if limit is Limit.SCREEN_SHARES:
        return f"{whose} allows {value} screen shares at once."
    if limit is Limit.PROCESSING_HEIGHT:
        return f"{whose} processes videos up to {value}p."
    return f"{whose} does not include premium videos."


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """One user's effective plan, for checking new use against it."""

    user_id: uuid.UUID
    effective: Effective
    settings: Settings

    @property
    def plan(self) -> PlanId:
        return self.effective.plan

    @property
    def entitlements(self) -> Entitlements:
        return self.effective.entitlements

    def allows(self, limit: Limit) -> int:
        return self.effective.entitlements.value(limit)

    def refuse(
        self, limit: Limit, needed: int, *, field: str | None = None, host: bool = False
    ) -> PlanLimitExceeded:
        """The error for `needed` of `limit` (`host`: the party host's plan, not the viewer's)."""
        value = self.allows(limit)
        return PlanLimitExceeded(
            _message(limit, value, self.plan, host),
            limit=limit,
            value=value,
            plan=self.plan,
            upgrade_to=lifting(limit, needed, self.settings),
            field=field,
        )

    def require(
        self, limit: Limit, needed: int, *, field: str | None = None, host: bool = False
    ) -> None:
        """Raise `PlanLimitExceeded` when `needed` is over the plan's `limit`."""
        if needed > self.allows(limit):
            raise self.refuse(limit, needed, field=field, host=host)


async def plan_of(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    lock: bool = False,
    now: datetime | None = None,
) -> PlanCheck | None:
    """`user_id`'s plan now; None when billing is off (no gating, no query).

    `lock` first locks the user's row (PostgreSQL), so two operations of one user that count
    what they use (parties hosted, bytes stored) and then add to it run one after the other."""
    if not settings.billing_enabled:
        return None
    if lock:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    found = await effective(session, user_id, settings, now or utcnow())
    return PlanCheck(user_id, found, settings)


async def host_plan(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, lock: bool
) -> PlanCheck | None:
    """`plan_of` as parties' registration takes it (`parties.plan_limits.use_plans`)."""
    return await plan_of(session, settings, user_id, lock=lock)
