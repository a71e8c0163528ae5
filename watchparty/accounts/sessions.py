"""A user's sign-ins (refresh families): listing the active ones and revoking one.

Revoking a family ends it for good: its refresh token stops working and, because every request
checks the family of its access token, so do the access tokens already issued from it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import tokens
from watchparty.accounts.models import AuthSession
from watchparty.errors import NotFound
from watchparty.kit.time import utcnow

SESSIONS_CAP = 100


async def active_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
    """The user's unrevoked, unexpired sign-ins, most recently used first (at most 100)."""
    rows = await session.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.last_used_at.desc(), AuthSession.created_at.desc())
        .limit(SESSIONS_CAP)
    )
    return list(rows)


async def revoke_session(session: AsyncSession, user_id: uuid.UUID, raw_id: str) -> uuid.UUID:
    """Revoke one of the user's own sign-ins. Idempotent for the owner.

    Someone else's session, an unknown id and a malformed id all get the same `NotFound`, so
    session ids cannot be probed.
    """
    try:
        session_id = uuid.UUID(raw_id)
    except ValueError as exc:
        raise NotFound("Session not found.", field="sessionId") from exc
    family = await session.get(AuthSession, session_id)
    if family is None or family.user_id != user_id:
        raise NotFound("Session not found.", field="sessionId")
    await tokens.revoke_family(session, family.id, reason="revoked_by_user")
    return family.id
