"""What other domains do when sign-ins are revoked: registered, not imported.

Accounts is the floor of the domains built on it and imports none of them, yet notifications
must forget the push devices a revoked sign-in registered. A callback registered here (by the
composition root, `registry.py`) runs wherever sign-ins are revoked (`tokens.revoke_family`,
`tokens.revoke_user_sessions`: sign-out, `revokeSession`, refresh-token reuse, password change
and reset, a social sign-in claiming the email), on the same database session, after the
revocation is written: whatever it writes commits (or rolls back) with the revocation.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

SessionsRevokedHook = Callable[[AsyncSession, frozenset[uuid.UUID]], Awaitable[None]]

_hooks: list[SessionsRevokedHook] = []


def on_sessions_revoked(hook: SessionsRevokedHook) -> SessionsRevokedHook:
    """Run `hook(session, revoked_session_ids)` on every revocation, in the order of
    registration. Registering the same hook again changes nothing."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def session_hooks() -> tuple[SessionsRevokedHook, ...]:
    return tuple(_hooks)


async def sessions_revoked(session: AsyncSession, session_ids: frozenset[uuid.UUID]) -> None:
    """Run every registered hook (inside the caller's transaction); nothing for no ids."""
    if not session_ids:
        return
    for hook in _hooks:
        await hook(session, session_ids)
