"""Cleaning and validating what a stranger can type into an account field.

Each function returns the value as stored or raises `ValidationProblem` naming the GraphQL input
field, so a form can put the message next to the right box. Limits match the column sizes.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from watchparty.errors import ValidationProblem

EMAIL_MAX = 320
DISPLAY_NAME_MAX = 50
BIO_MAX = 500
AVATAR_URL_MAX = 2048


def _has_control(text: str, *, allowed: str = "") -> bool:
    """Control and format characters (Cc/Cf, e.g. NUL or bidi overrides) other than `allowed`."""
    return any(unicodedata.category(c) in ("Cc", "Cf") and c not in allowed for c in text)


def normalize_email(raw: str, *, field: str = "email") -> str:
    if len(raw) > EMAIL_MAX:
        raise ValidationProblem("Email address is too long.", field=field)
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationProblem("Enter a valid email address.", field=field) from exc
    return result.normalized.lower()


def clean_display_name(raw: str | None, *, field: str = "displayName") -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationProblem("Display name is required.", field=field)
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationProblem(
            f"Display name must be at most {DISPLAY_NAME_MAX} characters.", field=field
        )
    if _has_control(name):
        raise ValidationProblem("Display name contains control characters.", field=field)
    return name


def clean_bio(raw: str | None, *, field: str = "bio") -> str | None:
    """Free text with line breaks; empty or null clears it."""
    bio = (raw or "").replace("\r\n", "\n").strip()
    if not bio:
        return None
    if len(bio) > BIO_MAX:
        raise ValidationProblem(f"Bio must be at most {BIO_MAX} characters.", field=field)
    if _has_control(bio, allowed="\n\t"):
        raise ValidationProblem("Bio contains control characters.", field=field)
    return bio


def clean_avatar_url(raw: str | None, *, field: str = "avatarUrl") -> str | None:
    """An absolute http(s) URL without credentials; empty or null clears it.

    The server never fetches it (browsers do), so private addresses are not a concern here.
    """
    url = (raw or "").strip()
    if not url:
        return None
    if len(url) > AVATAR_URL_MAX:
        raise ValidationProblem(
            f"Avatar URL must be at most {AVATAR_URL_MAX} characters.", field=field
        )
    invalid = ValidationProblem("Avatar URL must be an http:// or https:// URL.", field=field)
    if any(c.isspace() for c in url) or _has_control(url):
        raise invalid
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise invalid from exc
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise invalid
    if parts.username is not None or parts.password is not None:
        raise ValidationProblem("Avatar URL must not contain a user name or password.", field=field)
    return url
