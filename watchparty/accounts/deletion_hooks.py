"""What other domains do when an account is deleted: registered, not imported.

Accounts never imports the domains built on it, yet parties must hand over or end the parties
the account hosts, and analytics must anonymize its events (their rows have no foreign key to
the account: `user_id` is kept for aggregation, so the database cannot cascade it). A callback
registered here (by the composition root, `registry.py`) runs inside the unit of work of the
deletion, before the user's row is deleted: whatever it writes commits (or rolls back) with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

AccountDeletedHook = Callable[["UnitOfWork", uuid.UUID], Awaitable[None]]

_hooks: list[AccountDeletedHook] = []


def on_account_deleted(hook: AccountDeletedHook) -> AccountDeletedHook:
    """Run `hook(uow, user_id)` when an account is deleted, in the order of registration.
    Registering the same hook again changes nothing."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def deletion_hooks() -> tuple[AccountDeletedHook, ...]:
    return tuple(_hooks)


async def account_deleted(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Run every registered hook (inside the deletion's unit of work)."""
    for hook in _hooks:
        await hook(uow, user_id)
