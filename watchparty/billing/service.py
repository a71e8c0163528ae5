"""Billing's service entry points shared by its producers.

LEAD: `subscription_changed` is a stub here (b-stripe). The plans/entitlements branch has the
real one (records EntitlementsChanged on the user's channel); keep that one when merging. The
webhook handlers call it in the unit of work of every subscription change.
"""

from __future__ import annotations

import uuid

from watchparty.db import UnitOfWork


async def subscription_changed(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """A subscription of `user_id` changed in `uow` (their entitlements may have)."""
    return None
