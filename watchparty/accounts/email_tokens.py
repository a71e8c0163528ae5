"""Flows proven by a mailed one-time token: email verification and password reset.

Tokens are 256-bit random strings; only their SHA-256 is stored. A token works once: consuming
it is a conditional UPDATE (`used_at IS NULL`), so two concurrent uses cannot both succeed. The
flows take the unit of work first (`watchparty.db`), then who acts (the signed-in user's id, the
anonymous `Client`, or the mailed token), and never commit; the mail they send is enqueued in
the unit, after the commit.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import emails, passwords, revocations, tokens
from watchparty.accounts.fields import normalize_email
from watchparty.accounts.models import EmailToken, EmailTokenPurpose, User
from watchparty.accounts.security_hooks import SecurityEvent, SecurityEventKind, security_event
from watchparty.accounts.sessions import Client
from watchparty.db import UnitOfWork
from watchparty.errors import Conflict, InvalidToken, NotAuthenticated
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.mail import enqueue_mail

TOKEN_MAX = 200  # generated tokens are 43 characters; anything far longer is not one of ours


async def issue(
    session: AsyncSession, user: User, purpose: EmailTokenPurpose, ttl: timedelta
) -> tuple[EmailToken, str]:
    raw = tokens.new_raw_token()
    row = EmailToken(
        user_id=user.id,
        purpose=purpose.value,
        token_hash=tokens.hash_token(raw),
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    await session.flush()
    return row, raw


async def _usable(session: AsyncSession, raw: str, purpose: EmailTokenPurpose) -> EmailToken:
    """The unused, unexpired token of `purpose`, or `InvalidToken` (one answer for every case)."""
    if not raw or len(raw) > TOKEN_MAX:
        raise InvalidToken(field="token")
    row = await session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == tokens.hash_token(raw),
            EmailToken.purpose == purpose.value,
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidToken(field="token")
    return row


async def _consume(session: AsyncSession, row: EmailToken) -> User:
    """Mark `row` used, atomically; the loser of a race gets `InvalidToken`."""
    claimed = await session.execute(
        update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(EmailToken.id)
    )
    if claimed.scalar_one_or_none() is None:
        raise InvalidToken(field="token")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise InvalidToken(field="token")
    return user


async def invalidate_outstanding(
    session: AsyncSession, user_id: uuid.UUID, purpose: EmailTokenPurpose
) -> None:
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose.value,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )


# Email verification ----------------------------------------------------------------------------


async def send_verification(uow: UnitOfWork, user: User) -> None:
    """Issue a verification token for `user` and mail it after the commit."""
    settings = uow.app.settings
    row, raw = await issue(
        uow.session,
        user,
        EmailTokenPurpose.VERIFY_EMAIL,
        timedelta(hours=settings.email_token_ttl_hours),
    )
    mail = emails.verification_email(
        settings, to=user.email, display_name=user.display_name, token=raw, job_id=f"mail:{row.id}"
    )
    enqueue_mail(uow, uow.app.jobs, mail)


async def verify_email(uow: UnitOfWork, raw: str) -> User:
    session = uow.session
    row = await _usable(session, raw, EmailTokenPurpose.VERIFY_EMAIL)
    user = await _consume(session, row)
    await invalidate_outstanding(session, user.id, EmailTokenPurpose.VERIFY_EMAIL)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await session.flush()
    return user


async def resend_verification(uow: UnitOfWork, viewer_id: uuid.UUID) -> None:
    user = await uow.session.get(User, viewer_id)
    if user is None or not user.is_active:
        raise NotAuthenticated()
    if user.email_verified_at is not None:
        raise Conflict("Your email address is already verified.")
    await uow.app.limiter.hit(
        f"verify_resend:user:{user.id}", Limit.parse(uow.app.settings.rate_limit_verify_resend)
    )
    await send_verification(uow, user)


# Password reset ----------------------------------------------------------------------------------


async def request_password_reset(uow: UnitOfWork, client: Client, *, email: str) -> None:
    """Mail a reset link after the commit; nothing when there is no such (active) account.

    The caller answers the same either way. Both limits apply to any address, existing or not,
    so being limited reveals nothing either.
    """
    session, settings, limiter = uow.session, uow.app.settings, uow.app.limiter
    await limiter.hit(f"reset:ip:{client.ip}", Limit.parse(settings.rate_limit_reset_ip))
    email = normalize_email(email)
    await limiter.hit(f"reset:account:{email}", Limit.parse(settings.rate_limit_reset_account))
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    row, raw = await issue(
        session,
        user,
        EmailTokenPurpose.RESET_PASSWORD,
        timedelta(minutes=settings.password_reset_ttl_minutes),
    )
    mail = emails.password_reset_email(
        settings, to=user.email, display_name=user.display_name, token=raw, job_id=f"mail:{row.id}"
    )
    enqueue_mail(uow, uow.app.jobs, mail)


async def reset_password(uow: UnitOfWork, raw: str, *, new_password: str) -> User:
    """Set a new password from a reset link: signs out everywhere (every session's sockets close
    after the commit) and proves the mailbox."""
    session = uow.session
    revocations.announce_after_commit(uow)  # every session's sockets
    row = await _usable(session, raw, EmailTokenPurpose.RESET_PASSWORD)
    owner = await session.get(User, row.user_id)
    # The policy is checked before the token is consumed, so a weak choice can be corrected.
    passwords.check_policy(new_password, email=owner.email if owner else "", field="newPassword")
    user = await _consume(session, row)
    await invalidate_outstanding(session, user.id, EmailTokenPurpose.RESET_PASSWORD)
    user.password_hash = passwords.hash_password(new_password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await tokens.revoke_user_sessions(session, user.id, reason="password_reset")
    await session.flush()
    await security_event(uow, SecurityEvent(SecurityEventKind.PASSWORD_RESET, user.id, utcnow()))
    # Whoever locked the account out by guessing no longer stands between its owner and a sign-in.
    await uow.app.limiter.reset(f"login:account:{user.email}")
    return user
