"""Flows proven by a mailed one-time token: email verification and password reset.

Tokens are 256-bit random strings; only their SHA-256 is stored. A token works once: consuming
it is a conditional UPDATE (`used_at IS NULL`), so two concurrent uses cannot both succeed. Every
function takes a session and never commits; the mail it returns is enqueued by the caller after
the commit.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import emails, passwords, tokens
from watchparty.accounts.fields import normalize_email
from watchparty.accounts.models import EmailToken, EmailTokenPurpose, User
from watchparty.config import Settings
from watchparty.errors import Conflict, InvalidToken, NotAuthenticated
from watchparty.kit.ratelimit import Limit, RateLimiter
from watchparty.kit.time import utcnow
from watchparty.mail import OutgoingMail

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


async def verification_mail(session: AsyncSession, settings: Settings, user: User) -> OutgoingMail:
    """Issue a verification token for `user` and the mail that carries it."""
    row, raw = await issue(
        session,
        user,
        EmailTokenPurpose.VERIFY_EMAIL,
        timedelta(hours=settings.email_token_ttl_hours),
    )
    return emails.verification_email(
        settings, to=user.email, display_name=user.display_name, token=raw, job_id=f"mail:{row.id}"
    )


async def verify_email(session: AsyncSession, raw: str) -> User:
    row = await _usable(session, raw, EmailTokenPurpose.VERIFY_EMAIL)
    user = await _consume(session, row)
    await invalidate_outstanding(session, user.id, EmailTokenPurpose.VERIFY_EMAIL)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await session.flush()
    return user


async def resend_verification(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, user_id: uuid.UUID
) -> OutgoingMail:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated()
    if user.email_verified_at is not None:
        raise Conflict("Your email address is already verified.")
    await limiter.hit(
        f"verify_resend:user:{user.id}", Limit.parse(settings.rate_limit_verify_resend)
    )
    return await verification_mail(session, settings, user)


# Password reset ----------------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, *, ip: str, email: str
) -> OutgoingMail | None:
    """The reset mail, or None when there is no such (active) account.

    The caller answers the same either way. Both limits apply to any address, existing or not,
    so being limited reveals nothing either.
    """
    await limiter.hit(f"reset:ip:{ip}", Limit.parse(settings.rate_limit_reset_ip))
    email = normalize_email(email)
    await limiter.hit(f"reset:account:{email}", Limit.parse(settings.rate_limit_reset_account))
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return None
    row, raw = await issue(
        session,
        user,
        EmailTokenPurpose.RESET_PASSWORD,
        timedelta(minutes=settings.password_reset_ttl_minutes),
    )
    return emails.password_reset_email(
        settings, to=user.email, display_name=user.display_name, token=raw, job_id=f"mail:{row.id}"
    )


async def reset_password(
    session: AsyncSession, limiter: RateLimiter, *, raw: str, new_password: str
) -> User:
    """Set a new password from a reset link: signs out everywhere and proves the mailbox."""
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
    # Whoever locked the account out by guessing no longer stands between its owner and a sign-in.
    await limiter.reset(f"login:account:{user.email}")
    return user
