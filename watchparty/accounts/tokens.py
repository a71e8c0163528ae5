"""Refresh-token families (the access tokens they buy are `watchparty.access_tokens`).

Refresh tokens are opaque random strings stored only as SHA-256 digests. Each sign-in starts a
family (`AuthSession`); every refresh rotates the token inside the family. Presenting a token that
was already rotated means somebody kept a copy: the whole family is revoked. One exception, the
reuse grace window (REFRESH_REUSE_GRACE_SECONDS): tabs of one browser share the cookie and may
refresh at the same moment, so a token rotated less than that long ago yields a sibling (a new
token in the same family) instead of a revocation. Reuse after the window still revokes.

Revocations are noted on the SQLAlchemy session (`revoked_in`), so the boundary that commits can
end the revoked sign-ins' open sockets everywhere (`accounts.revocations`), and run the hooks
other domains registered (`accounts.session_hooks`) in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import AuthSession, RefreshToken, User
from watchparty.accounts.session_hooks import sessions_revoked
from watchparty.config import Settings
from watchparty.kit.time import utcnow


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_raw_token() -> str:
    return secrets.token_urlsafe(32)


async def start_session(
    session: AsyncSession,
    user: User,
    settings: Settings,
    *,
    user_agent: str | None,
    ip_address: str | None,
    method: str = "password",
) -> tuple[AuthSession, str]:
    """Open a new refresh family for `user`; returns it with the first raw refresh token."""
    now = utcnow()  # one instant, so last_used_at never reads as earlier than created_at
    family = AuthSession(
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
        user_agent=(user_agent or "")[:400] or None,
        ip_address=ip_address,
        method=method,
    )
    session.add(family)
    await session.flush()
    raw = new_raw_token()
    session.add(RefreshToken(session_id=family.id, token_hash=hash_token(raw)))
    await session.flush()
    return family, raw


class RefreshRejected(Exception):
    """`revoked`: the sign-in a reuse ended now (None when it had already ended)."""

    def __init__(self, reason: str, *, revoked: uuid.UUID | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.revoked = revoked


async def rotate(
    session: AsyncSession, raw: str, *, grace_seconds: float = 0.0
) -> tuple[AuthSession, str]:
    """Exchange a refresh token for a new one in the same family.

    The conditional UPDATE makes rotation atomic across processes: of concurrent uses of the same
    token exactly one rotates it. The others, and any later use, find it rotated: within
    `grace_seconds` of the rotation they get a sibling (the legitimate race of two tabs), after
    it the family is revoked and the caller must commit that revocation before answering 401.

    A regular rotation also retires the family's other unused tokens issued more than
    `grace_seconds` ago (the siblings nobody kept: a browser holds one cookie), so a sibling
    obtained with a stolen token is caught as reuse at the owner's next refresh.
    """
    digest = hash_token(raw)
    now = utcnow()
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now)
        .returning(RefreshToken.session_id)
    )
    family_id = claimed.scalar_one_or_none()
    if family_id is not None:
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.session_id == family_id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.created_at < now - timedelta(seconds=grace_seconds),
            )
            # Dated back to their issue, so that presenting one is reuse at once, not a race.
            .values(rotated_at=RefreshToken.created_at)
        )
    else:
        used = (
            await session.execute(
                select(RefreshToken.session_id, RefreshToken.rotated_at).where(
                    RefreshToken.token_hash == digest
                )
            )
        ).one_or_none()
        if used is None:
            raise RefreshRejected("unknown")
        family_id, rotated_at = used
        if rotated_at is None or rotated_at < now - timedelta(seconds=grace_seconds):
            ended = await revoke_family(session, family_id, reason="reuse_detected")
            raise RefreshRejected("reused", revoked=family_id if ended else None)
    family = await session.get(AuthSession, family_id)
    if family is None or family.revoked_at is not None:
        raise RefreshRejected("revoked")
    if family.expires_at <= now:
        raise RefreshRejected("expired")
    user = await session.get(User, family.user_id)
    if user is None or not user.is_active:
        raise RefreshRejected("inactive")
    new_raw = new_raw_token()
    session.add(RefreshToken(session_id=family.id, token_hash=hash_token(new_raw)))
    family.last_used_at = now
    await session.flush()
    return family, new_raw


async def family_of(session: AsyncSession, raw: str) -> AuthSession | None:
    family_id = await session.scalar(
        select(RefreshToken.session_id).where(RefreshToken.token_hash == hash_token(raw))
    )
    return None if family_id is None else await session.get(AuthSession, family_id)


_REVOKED_KEY = "watchparty.revoked_sessions"


def revoked_in(session: AsyncSession) -> set[uuid.UUID]:
    """The sign-ins revoked through `session` and not yet announced (see `revocations`)."""
    noted: set[uuid.UUID] = session.info.setdefault(_REVOKED_KEY, set())
    return noted


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, *, reason: str) -> bool:
    """End the sign-in `family_id`; whether it was still active (False: already ended)."""
    result: Any = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == family_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    # Noted even when it was already revoked: announcing twice is harmless, missing one is not.
    revoked_in(session).add(family_id)
    await sessions_revoked(session, frozenset({family_id}))  # e.g. its push devices go
    return bool(result.rowcount)


async def revoke_user_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, reason: str, keep: uuid.UUID | None = None
) -> None:
    stmt = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    revoked = frozenset(
        await session.scalars(
            stmt.values(revoked_at=utcnow(), revoked_reason=reason).returning(AuthSession.id)
        )
    )
    revoked_in(session).update(revoked)
    await sessions_revoked(session, revoked)
