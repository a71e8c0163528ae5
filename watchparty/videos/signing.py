"""Signed, expiring tokens for media and upload URLs.

A token is `<subject>.<expiry>.<mac>`, the subject base64url-encoded and the MAC an
HMAC-SHA256 over `purpose NUL subject NUL expiry` with the media signing key. The purpose is
not in the token: a token signed for "upload" never verifies as "media". Tokens carry their
subject, so the server needs no lookup to check one; they cannot be revoked before expiry,
which is why their lifetime is bounded by `media_url_ttl_seconds` / `upload_url_ttl_seconds`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from watchparty.config import Settings

_MAC_BYTES = 20  # 160 bits: forging stays out of reach and URLs stay short


class InvalidSignature(Exception):
    """The token is malformed, forged, signed for another purpose, or expired."""


class ExpiredSignature(InvalidSignature):
    """The token was genuine but its expiry has passed."""


def signing_key(settings: Settings) -> bytes:
    """MEDIA_SIGNING_KEY (config.py derives a development key from JWT_KEYS when unset)."""
    return settings.media_signing_key.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _mac(settings: Settings, purpose: str, subject: str, expires_at: int) -> bytes:
    message = b"\0".join((purpose.encode(), subject.encode(), str(expires_at).encode()))
    return hmac.new(signing_key(settings), message, hashlib.sha256).digest()[:_MAC_BYTES]


def sign(settings: Settings, purpose: str, subject: str, expires_at: int) -> str:
    """A URL-safe token proving `subject` for `purpose` until `expires_at` (epoch seconds)."""
    if "\0" in purpose or "\0" in subject:
        raise ValueError("purpose and subject must not contain NUL")
    mac = _mac(settings, purpose, subject, expires_at)
    return f"{_b64(subject.encode())}.{expires_at}.{_b64(mac)}"


def verify(settings: Settings, purpose: str, token: str, *, now: float | None = None) -> str:
    """The token's subject; raises InvalidSignature (ExpiredSignature once expired)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise InvalidSignature("malformed token")
    try:
        subject = _unb64(parts[0]).decode()
        given = _unb64(parts[2])
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidSignature("malformed token") from exc
    expires_at = int(parts[1])
    if not hmac.compare_digest(given, _mac(settings, purpose, subject, expires_at)):
        raise InvalidSignature("bad signature")
    if expires_at <= (time.time() if now is None else now):
        raise ExpiredSignature("token expired")
    return subject


def expiry(ttl_seconds: int, *, now: float | None = None) -> int:
    """An expiry at least `ttl_seconds` away, rounded up to a step of a tenth of the TTL.

    Rounding makes the same viewer get the same URL for a while, so browsers and CDNs can
    reuse cached segments instead of seeing a new URL on every query.
    """
    current = int(time.time() if now is None else now)
    step = max(1, ttl_seconds // 10)
    return ((current + ttl_seconds) // step + 1) * step
