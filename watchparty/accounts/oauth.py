"""Social sign-in rules: turn a provider's identity into one of our users. Never commits.

Order of resolution:
1. the (provider, subject) pair is already linked -> that user;
2. a user with the same email exists and the provider vouches for the email -> link to them;
3. the email is unknown -> a new account (no password; verified when the provider says so).

A matching email the provider does *not* vouch for is refused: linking on it would hand the
account to whoever can type that address at the provider.

Linking to an account whose own email was never verified also invalidates that account's password
and sign-ins. Whoever registered it never proved they own the address, so it might have been
pre-registered by an attacker waiting for the real owner to arrive through the provider
("pre-account hijacking"). The real owner can set a password again with a reset email.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts import revocations, tokens
from watchparty.accounts.models import OAuthAccount, User
from watchparty.accounts.service import (
    Client,
    SignIn,
    clean_display_name,
    find_user_by_email,
    normalize_email,
    open_session,
)
from watchparty.db import UnitOfWork
from watchparty.errors import Conflict, NotAllowed, Problem, ValidationProblem
from watchparty.kit.time import utcnow

PROVIDERS = ("google", "github")


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says signed in. `subject` is the provider's stable user id."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    display_name: str | None = None
    avatar_url: str | None = None


class EmailNotVerified(Conflict):
    """An account with this email exists but the provider did not verify the email."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"An account with this email already exists and {provider} has not verified the "
            "email. Sign in with your password, or verify the email with the provider first."
        )


class EmailMissing(ValidationProblem):
    def __init__(self, provider: str) -> None:
        super().__init__(f"{provider} did not share an email address with us.")


class AccountDisabled(NotAllowed):
    def __init__(self) -> None:
        super().__init__("This account is disabled.")


def _display_name(identity: ProviderIdentity, email: str) -> str:
    for candidate in (identity.display_name, email.split("@", 1)[0]):
        if candidate:
            try:
                return clean_display_name(candidate[:200])[:50]
            except ValidationProblem:
                continue
    return "New user"


def _avatar(url: str | None) -> str | None:
    if url and len(url) <= 2048 and url.startswith(("https://", "http://")):
        return url
    return None


def _email(identity: ProviderIdentity) -> str | None:
    if not identity.email:
        return None
    try:
        return normalize_email(identity.email)
    except Problem:
        return None


async def find_or_create_user(session: AsyncSession, identity: ProviderIdentity) -> User:
    """Resolve the identity to a user, linking or creating as the rules above say."""
    email = _email(identity)
    link = await session.scalar(
        select(OAuthAccount).where(
            OAuthAccount.provider == identity.provider,
            OAuthAccount.provider_user_id == identity.subject,
        )
    )
    if link is not None:
        user = await session.get(User, link.user_id)
        if user is None:  # cascade makes this impossible; be explicit anyway
            raise AccountDisabled()
        link.email = email
        return user

    if email is None:
        raise EmailMissing(identity.provider)
    user = await find_user_by_email(session, email)
    if user is not None:
        if not identity.email_verified:
            raise EmailNotVerified(identity.provider)
        if user.email_verified_at is None:
            # See the module docstring: the old password and sessions are not the owner's.
            user.password_hash = None
            user.email_verified_at = utcnow()
            await tokens.revoke_user_sessions(session, user.id, reason="email_claimed")
    else:
        user = User(
            email=email,
            display_name=_display_name(identity, email),
            password_hash=None,
            avatar_url=_avatar(identity.avatar_url),
            email_verified_at=utcnow() if identity.email_verified else None,
        )
        session.add(user)
        await session.flush()
    session.add(
        OAuthAccount(
            user_id=user.id,
            provider=identity.provider,
            provider_user_id=identity.subject,
            email=email,
        )
    )
    await session.flush()
    return user


async def sign_in(uow: UnitOfWork, client: Client, identity: ProviderIdentity) -> SignIn:
    """Find or create the user and open a refresh family whose method names the provider (the
    sign-ins a claimed email revoked have their sockets closed after the commit)."""
    revocations.announce_after_commit(uow)  # a claimed email's old sessions
    user = await find_or_create_user(uow.session, identity)
    if not user.is_active:
        raise AccountDisabled()
    tracking.track(uow, "auth.sign_in", user_id=user.id, method=identity.provider)
    return await open_session(uow, client, user, method=identity.provider)
