"""Billing's events on the user's channel (`user:<id>`, the `notificationEvents` stream): stored,
so a client resuming by cursor hears about a change it missed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, register


@register("billing.entitlements_changed")
@dataclass(frozen=True, slots=True)
class EntitlementsChanged(Event):
    """The user's effective plan or limits may have changed (a subscription row was written):
    `plan` (a `PlanId` name) and `entitlements` (`billing.plans.Entitlements` by field name)
    are the ones that apply now."""

    plan: str
    entitlements: dict[str, Any]
