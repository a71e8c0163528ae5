"""Account rules: registration, sign-in, profile and password. Never commits.

Each rule takes the unit of work first (`watchparty.db`), then who acts: the signed-in user's id,
or the `Client` of an anonymous caller. Mail a rule sends is enqueued in the unit, after the
commit; so is the announcement of the sign-ins it revoked (`revocations`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts import devices, email_tokens, emails, passwords, revocations, tokens
from watchparty.accounts.fields import (
    DISPLAY_NAME_MAX,
    clean_avatar_url,
    clean_bio,
    clean_display_name,
    normalize_email,
)
from watchparty.accounts.models import AuthSession, EmailTokenPurpose, User
from watchparty.accounts.security_hooks import SecurityEvent, SecurityEventKind, security_event
from watchparty.accounts.sessions import Client
from watchparty.db import UnitOfWork
from watchparty.errors import (
    Conflict,
    InvalidCredentials,
    NotAuthenticated,
    ValidationProblem,
)
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.mail import enqueue_mail

__all__ = [
    "DISPLAY_NAME_MAX",
    "Client",
    "Keep",
    "SignIn",
    "change_password",
    "clean_display_name",
    "find_user_by_email",
    "login",
    "normalize_email",
    "open_session",
    "register",
    "update_profile",
]


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    family: AuthSession
    refresh_token: str


async def open_session(
    uow: UnitOfWork, client: Client, user: User, *, method: str = "password"
) -> SignIn:
    """Sign `user` in on `client`: a new refresh family (its `method` says how) and its first
    token. A sign-in from a device the user has not used lately is a security event
    (`accounts.devices`)."""
    family, raw = await tokens.start_session(
        uow.session,
        user,
        uow.app.settings,
        user_agent=client.user_agent,
        ip_address=client.ip,
        method=method,
    )
    if await devices.is_new_device(uow.session, family):
        await security_event(
            uow,
            SecurityEvent(
                SecurityEventKind.NEW_SIGN_IN,
                user.id,
                family.created_at,
                session_id=family.id,
                device=devices.describe(family.user_agent),
                ip=family.ip_address,
                method=method,
            ),
        )
    return SignIn(user, family, raw)


async def register(
    uow: UnitOfWork, client: Client, *, email: str, password: str, display_name: str
) -> SignIn:
    """A new account, signed in on `client`; its verification mail goes after the commit."""
    session, settings = uow.session, uow.app.settings
    await uow.app.limiter.hit(
        f"register:ip:{client.ip}", Limit.parse(settings.rate_limit_register_ip)
    )
    email = normalize_email(email)
    display_name = clean_display_name(display_name)
    passwords.check_policy(password, email=email)
    taken = Conflict("An account with this email already exists.", field="email")
    if await find_user_by_email(session, email) is not None:
        raise taken
    user = User(
        email=email, display_name=display_name, password_hash=passwords.hash_password(password)
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two sign-ups with one address at once both pass the check above; the unique email
        # lets one in, and the other gets the answer it would have had a moment later.
        raise taken from exc
    await email_tokens.send_verification(uow, user)
    tracking.track(uow, "auth.sign_up", user_id=user.id, method="password")
    return await open_session(uow, client, user)


async def login(uow: UnitOfWork, client: Client, *, email: str, password: str) -> SignIn:
    """Both limits count every attempt; the account limit applies to unknown addresses too."""
    settings, limiter = uow.app.settings, uow.app.limiter
    await limiter.hit(f"login:ip:{client.ip}", Limit.parse(settings.rate_limit_login_ip))
    try:
        email = normalize_email(email)
    except ValidationProblem as exc:
        raise InvalidCredentials() from exc
    await limiter.hit(f"login:account:{email}", Limit.parse(settings.rate_limit_login_account))
    user = await find_user_by_email(uow.session, email)
    if (
        not passwords.verify_password(user.password_hash if user else None, password)
        or user is None
    ):
        raise InvalidCredentials()
    if not user.is_active:
        raise InvalidCredentials("This account is disabled.")
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    tracking.track(uow, "auth.sign_in", user_id=user.id, method="password")
    return await open_session(uow, client, user)


class Keep(Enum):
    """An optional input left out: keep the stored value (null, by contrast, clears it)."""

    KEEP = "keep"


async def _load_active(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated()
    return user


async def update_profile(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    display_name: str | Keep | None = Keep.KEEP,
    avatar_url: str | Keep | None = Keep.KEEP,
    bio: str | Keep | None = Keep.KEEP,
    searchable: bool | None = None,
) -> User:
    """Every given field is validated before any is changed. `searchable` False opts the user
    out of search (the search outbox removes them from the index)."""
    user = await _load_active(uow.session, viewer_id)
    changes: dict[str, str | None] = {}
    if display_name is not Keep.KEEP:
        changes["display_name"] = clean_display_name(display_name)
    if avatar_url is not Keep.KEEP:
        changes["avatar_url"] = clean_avatar_url(avatar_url)
    if bio is not Keep.KEEP:
        changes["bio"] = clean_bio(bio)
    for name, value in changes.items():
        setattr(user, name, value)
    if searchable is not None:
        user.searchable = searchable
    await uow.session.flush()
    return user


async def change_password(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    current_session_id: uuid.UUID,
    current_password: str,
    new_password: str,
) -> User:
    """Replace the password and sign out every other device (their sockets close after the
    commit); the owner gets a notice by mail.

    An account without a password (social sign-in only) sets its first one through the reset
    mail instead: a stolen access token alone must not be enough to add a password.
    """
    session, settings = uow.session, uow.app.settings
    revocations.announce_after_commit(uow)  # the other sessions' sockets
    user = await _load_active(session, viewer_id)
    if user.password_hash is None:
        raise ValidationProblem(
            "Your account has no password yet. Use “Forgot password” to set one by email.",
            field="currentPassword",
        )
    # Guessing the current password with a stolen access token is limited like a sign-in.
    await uow.app.limiter.hit(
        f"password:user:{user.id}", Limit.parse(settings.rate_limit_login_account)
    )
    if not passwords.verify_password(user.password_hash, current_password):
        raise InvalidCredentials("Current password is incorrect.", field="currentPassword")
    passwords.check_policy(new_password, email=user.email, field="newPassword")
    if new_password == current_password:
        raise ValidationProblem(
            "Choose a password different from the current one.", field="newPassword"
        )
    user.password_hash = passwords.hash_password(new_password)
    await tokens.revoke_user_sessions(
        session, user.id, reason="password_changed", keep=current_session_id
    )
    await email_tokens.invalidate_outstanding(session, user.id, EmailTokenPurpose.RESET_PASSWORD)
    await session.flush()
    current = await session.get(AuthSession, current_session_id)
    await security_event(
        uow,
        SecurityEvent(
            SecurityEventKind.PASSWORD_CHANGED,
            user.id,
            utcnow(),
            session_id=current_session_id,
            device=None if current is None else devices.describe(current.user_agent),
            ip=None if current is None else current.ip_address,
            method=None if current is None else current.method,
        ),
    )
    mail = emails.password_changed_email(
        settings,
        to=user.email,
        display_name=user.display_name,
        # Derived from the new hash: one notice per change, however often the enqueue is retried.
        job_id=f"mail:password_changed:{tokens.hash_token(user.password_hash)[:32]}",
    )
    enqueue_mail(uow, uow.app.jobs, mail)
    return user
