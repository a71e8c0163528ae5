"""What other domains do when something happens to an account's security: registered, not
imported.

Accounts never imports the domains built on it, yet notifications tells a user about a sign-in
from a new device, a password change or reset, and a sign-in ended because its refresh token
was used twice. A callback registered here (by the composition root, `registry.py`) runs inside
the unit of work of the change, after it is flushed, so whatever it writes commits (or rolls
back) with the change itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


class SecurityEventKind(StrEnum):
    NEW_SIGN_IN = "NEW_SIGN_IN"  # a sign-in from a device not seen lately (`accounts.devices`)
    # Kinds, not secrets (S105): changePassword while signed in; a reset through the mail link.
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105
    REUSE_REVOKED = "REUSE_REVOKED"  # a refresh token used twice ended its sign-in


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security event of `user_id`'s account, at `at`.

    Plain values only, so a callback needs nothing from accounts to read it. `session_id`,
    `device` (a description: "Firefox on Windows"), `ip` and `method` ("password", "google"...)
    describe the sign-in concerned: the new one, the one that changed the password, or the one
    that was ended; None when there is none (a reset through the mail link has no sign-in).
    """

    kind: SecurityEventKind
    user_id: uuid.UUID
    at: datetime
    session_id: uuid.UUID | None = None
    device: str | None = None
    ip: str | None = None
    method: str | None = None


SecurityHook = Callable[["UnitOfWork", SecurityEvent], Awaitable[None]]

_security_hooks: list[SecurityHook] = []


def on_security_event(hook: SecurityHook) -> SecurityHook:
    """Run `hook` on every security event, in the order of registration. Registering the same
    hook again changes nothing."""
    if hook not in _security_hooks:
        _security_hooks.append(hook)
    return hook


def security_hooks() -> tuple[SecurityHook, ...]:
    """The registered hooks, in order."""
    return tuple(_security_hooks)


async def security_event(uow: UnitOfWork, event: SecurityEvent) -> None:
    """Run every registered hook on `event` (inside the caller's unit of work)."""
    for hook in _security_hooks:
        await hook(uow, event)
