"""Account rules: registration, sign-in, profile. Takes a session; never commits."""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts import passwords, tokens
from watchparty.accounts.models import AuthSession, User
from watchparty.config import Settings
from watchparty.errors import Conflict, InvalidCredentials, ValidationProblem
from watchparty.kit.ratelimit import Limit, RateLimiter

DISPLAY_NAME_MAX = 50


def normalize_email(raw: str, *, field: str = "email") -> str:
    if len(raw) > 320:
        raise ValidationProblem("Email address is too long.", field=field)
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationProblem("Enter a valid email address.", field=field) from exc
    return result.normalized.lower()


def clean_display_name(raw: str, *, field: str = "displayName") -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValidationProblem("Display name is required.", field=field)
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationProblem(
            f"Display name must be at most {DISPLAY_NAME_MAX} characters.", field=field
        )
    if any(ord(c) < 32 for c in name):
        raise ValidationProblem("Display name contains control characters.", field=field)
    return name


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    family: AuthSession
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Client:
    ip: str
    user_agent: str | None


async def register(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    client: Client,
    *,
    email: str,
    password: str,
    display_name: str,
) -> SignIn:
    await limiter.hit(f"register:ip:{client.ip}", Limit.parse(settings.rate_limit_register_ip))
    email = normalize_email(email)
    display_name = clean_display_name(display_name)
    passwords.check_policy(password, email=email)
    if await find_user_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists.", field="email")
    user = User(email=email, display_name=display_name, password_hash=passwords.hash_password(password))
    session.add(user)
    await session.flush()
    family, raw = await tokens.start_session(
        session, user, settings, user_agent=client.user_agent, ip_address=client.ip
    )
    return SignIn(user, family, raw)


async def login(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    client: Client,
    *,
    email: str,
    password: str,
) -> SignIn:
    await limiter.hit(f"login:ip:{client.ip}", Limit.parse(settings.rate_limit_login_ip))
    try:
        email = normalize_email(email)
    except ValidationProblem as exc:
        raise InvalidCredentials() from exc
    await limiter.hit(f"login:account:{email}", Limit.parse(settings.rate_limit_login_account))
    user = await find_user_by_email(session, email)
    if not passwords.verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials()
    if not user.is_active:
        raise InvalidCredentials("This account is disabled.")
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    family, raw = await tokens.start_session(
        session, user, settings, user_agent=client.user_agent, ip_address=client.ip
    )
    return SignIn(user, family, raw)
