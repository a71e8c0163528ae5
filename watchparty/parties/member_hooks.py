"""What other domains do when a membership changes: registered, not imported.

Parties never imports the domains built on it, yet notifications reacts to join requests and
their answers, role changes, handovers, kicks and bans. A callback registered here (by the
composition root, `registry.py`) runs inside the unit of work of the change, after it is
flushed, so whatever it writes commits (or rolls back) with the change itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


class MemberChangeKind(StrEnum):
    JOIN_REQUESTED = "JOIN_REQUESTED"  # `user_id` asked to join (approval needed)
    JOIN_APPROVED = "JOIN_APPROVED"
    JOIN_REJECTED = "JOIN_REJECTED"
    ROLE_CHANGED = "ROLE_CHANGED"  # `role` is the new one
    HOST_TRANSFERRED = "HOST_TRANSFERRED"  # `user_id` is the new host; `handover`: how
    KICKED = "KICKED"
    BANNED = "BANNED"


@dataclass(frozen=True, slots=True)
class MemberChange:
    """One change of `user_id`'s membership, by `actor_id` (None: nobody acted, a failover).

    Plain values only, so a callback needs nothing from parties to read it. `moderator_ids`
    (the active host, co-hosts and moderators) is filled for JOIN_REQUESTED.
    """

    kind: MemberChangeKind
    party_id: uuid.UUID
    party_title: str
    user_id: uuid.UUID
    actor_id: uuid.UUID | None
    role: str | None = None
    handover: str | None = None  # HOST_TRANSFERRED: TRANSFER, HOST_LEFT or HOST_AWAY
    moderator_ids: tuple[uuid.UUID, ...] = ()


MemberHook = Callable[["UnitOfWork", MemberChange], Awaitable[None]]

_member_hooks: list[MemberHook] = []


def on_member_change(hook: MemberHook) -> MemberHook:
    """Run `hook` on every membership change, in the order of registration. Registering the
    same hook again changes nothing."""
    if hook not in _member_hooks:
        _member_hooks.append(hook)
    return hook


def member_hooks() -> tuple[MemberHook, ...]:
    """The registered hooks, in order."""
    return tuple(_member_hooks)


async def member_changed(uow: UnitOfWork, change: MemberChange) -> None:
    """Run every registered hook on `change` (inside the caller's unit of work)."""
    for hook in _member_hooks:
        await hook(uow, change)
