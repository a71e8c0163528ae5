"""The host's plan (billing): registered, not imported.

Billing is built above parties (it may read parties; parties never imports it), yet a party's
host's plan bounds its members, the parties one hosts at once and its screen shares. The
composition root (`registry.py`) registers billing's `gate.plan_of`; without a registration, or
with billing off (the lookup answers None), nothing is gated.

Decisions (see the README, "Billing"):
- The party's current host's plan decides (not the joiner's). A transfer of hosting is never
  refused for a plan; from then on the new host's plan gates new joins and settings.
- Only new use is checked: members already in stay after a downgrade or a transfer, a setting
  already above the plan stays until changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.config import Settings
from watchparty.errors import PlanLimit, PlanLimitExceeded


class HostPlan(Protocol):
    """What parties asks of a plan (billing's `gate.PlanCheck`)."""

    def allows(self, limit: PlanLimit) -> int: ...

    def refuse(
        self, limit: PlanLimit, needed: int, *, field: str | None = ..., host: bool = ...
    ) -> PlanLimitExceeded: ...

    def require(
        self, limit: PlanLimit, needed: int, *, field: str | None = ..., host: bool = ...
    ) -> None: ...


# (session, settings, user id, lock the user's row?) -> the plan, or None (not gated).
PlanLookup = Callable[[AsyncSession, Settings, uuid.UUID, bool], Awaitable[HostPlan | None]]

_lookups: list[PlanLookup] = []  # at most one


def use_plans(lookup: PlanLookup) -> None:
    """Read users' plans with `lookup`. Registering the same lookup again changes nothing; a
    different one is a wiring mistake."""
    if _lookups and _lookups[0] is not lookup:
        raise RuntimeError("a plan lookup is already registered")
    _lookups[:] = [lookup]


async def plan_of(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, *, lock: bool = False
) -> HostPlan | None:
    """`user_id`'s plan, or None when nothing is gated (no lookup, or billing off)."""
    if not _lookups or not settings.billing_enabled:
        return None
    return await _lookups[0](session, settings, user_id, lock)
