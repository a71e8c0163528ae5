"""A user's sign-ins (refresh families): listing the active ones, revoking one, refreshing and
signing out with the refresh cookie (`http.auth`).

Revoking a family ends it for good: its refresh token stops working and, because every request
checks the family of its access token (`signed_in_user`), so do the access tokens already issued
from it; open WebSockets of the family close (`revocations`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from watchparty.access_tokens import AccessClaims
from watchparty.accounts import devices, revocations, tokens
from watchparty.accounts.checked_sessions import checked_sessions
from watchparty.accounts.models import AuthSession, User
from watchparty.accounts.security_hooks import SecurityEvent, SecurityEventKind, security_event
from watchparty.db import UnitOfWork
from watchparty.errors import NotFound
from watchparty.kit.time import utcnow

if TYPE_CHECKING:
    from watchparty.state import AppState

SESSIONS_CAP = 100


@dataclass(frozen=True, slots=True)
class Client:
    """Where a sign-in comes from (and who acts, for an anonymous caller)."""

    ip: str
    user_agent: str | None


async def signed_in_user(
    sessionmaker: async_sessionmaker[AsyncSession], claims: AccessClaims
) -> User | None:
    """The user a verified access token speaks for, in one query; None when its sign-in was
    revoked (or never existed) or the account is disabled."""
    async with sessionmaker() as session:
        user: User | None = await session.scalar(
            select(User)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(
                AuthSession.id == claims.session_id,
                User.id == claims.user_id,
                AuthSession.revoked_at.is_(None),
                User.is_active.is_(True),
            )
        )
    return user


@dataclass(frozen=True, slots=True)
class RequestSignIn:
    """An HTTP request's sign-in check: `valid`, and the user when it was read (None when this
    process found the sign-in valid a moment ago and skipped the read)."""

    valid: bool
    user: User | None


async def check_request_sign_in(state: AppState, claims: AccessClaims) -> RequestSignIn:
    """Whether an HTTP request's sign-in stands, before anything executes: from this process's
    `checked_sessions` when it found it valid less than `SESSION_CHECK_CACHE_SECONDS` ago, else
    from the database (`signed_in_user`, remembered when valid). Raises when the database
    cannot answer."""
    checked = checked_sessions(state)
    if checked.fresh(claims.session_id, claims.user_id):
        return RequestSignIn(True, None)
    user = await signed_in_user(state.sessionmaker, claims)
    if user is None:
        return RequestSignIn(False, None)
    checked.remember(claims.session_id, claims.user_id)
    return RequestSignIn(True, user)


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


async def revoke_session(uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str) -> uuid.UUID:
    """Revoke one of the viewer's own sign-ins (its open sockets close after the commit).
    Idempotent for the owner.

    Someone else's session, an unknown id and a malformed id all get the same `NotFound`, so
    session ids cannot be probed.
    """
    session = uow.session
    revocations.announce_after_commit(uow)  # its open sockets
    try:
        session_id = uuid.UUID(raw_id)
    except ValueError as exc:
        raise NotFound("Session not found.", field="sessionId") from exc
    family = await session.get(AuthSession, session_id)
    if family is None or family.user_id != viewer_id:
        raise NotFound("Session not found.", field="sessionId")
    await tokens.revoke_family(session, family.id, reason="revoked_by_user")
    return family.id


async def refresh(uow: UnitOfWork, raw: str) -> tuple[AuthSession, str]:
    """Exchange the refresh token `raw` for a new one of its sign-in (`tokens.rotate`, with the
    configured grace for tabs racing each other).

    A reused token revokes its whole sign-in and raises `RefreshRejected("reused")`: the caller
    commits that revocation before answering, and the sign-in's sockets close after the commit.
    The owner is told through the security hooks (once: a sign-in already ended is not news).
    """
    revocations.announce_after_commit(uow)  # a reuse ends the family's sockets
    grace = uow.app.settings.refresh_reuse_grace_seconds
    try:
        return await tokens.rotate(uow.session, raw, grace_seconds=grace)
    except tokens.RefreshRejected as exc:
        if exc.revoked is not None:  # the sign-in a reuse ended now: its owner is told
            await _reuse_revoked(uow, exc.revoked)
        raise


async def _reuse_revoked(uow: UnitOfWork, family_id: uuid.UUID) -> None:
    family = await uow.session.get(AuthSession, family_id)
    if family is None:
        return
    event = SecurityEvent(
        SecurityEventKind.REUSE_REVOKED,
        family.user_id,
        utcnow(),
        session_id=family.id,
        device=devices.describe(family.user_agent),
        ip=family.ip_address,
        method=family.method,
    )
    await security_event(uow, event)


async def sign_out(uow: UnitOfWork, raw: str) -> None:
    """Revoke the sign-in of the refresh token `raw`, if there is one (its open sockets close
    after the commit)."""
    revocations.announce_after_commit(uow)  # the sign-in's open sockets close
    family = await tokens.family_of(uow.session, raw)
    if family is not None:
        await tokens.revoke_family(uow.session, family.id, reason="logout")
