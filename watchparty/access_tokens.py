"""Access tokens: short-lived HS256 JWTs naming a user and a sign-in (`AccessClaims`).

Signing and checking them needs only the keys from configuration, so it lives in the shared floor:
the process state holds one `AccessTokens` and the GraphQL view reads claims without importing
the accounts domain (which owns the sign-ins, refresh families and revocations).

The header names the key id that signed a token, so keys rotate by adding a new `kid:secret` to
JWT_KEYS, switching JWT_ACTIVE_KID, and dropping the old key once every token it signed has
expired.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet, OctKey

from watchparty.config import Settings
from watchparty.kit.time import utcnow

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_at: datetime


class TokenError(Exception):
    """The access token is malformed, forged or expired (`expired`: a genuine token, too old)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class AccessTokens:
    def __init__(self, settings: Settings) -> None:
        self._ttl = settings.access_token_ttl_seconds
        self._issuer = settings.jwt_issuer
        self._kid = settings.jwt_active_kid
        keys = [
            OctKey.import_key(secret, {"kid": kid}) for kid, secret in settings.signing_keys.items()
        ]
        self._keys = KeySet(list[Any](keys))
        self._active = next(k for k in keys if k.kid == self._kid)
        self._registry = jwt.JWTClaimsRegistry(
            exp={"essential": True},
            sub={"essential": True},
            sid={"essential": True},
            iss={"essential": True, "value": self._issuer},
        )

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID) -> IssuedAccessToken:
        now = int(time.time())
        expires = now + self._ttl
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": expires,
            "iss": self._issuer,
        }
        token = jwt.encode({"alg": ALGORITHM, "kid": self._kid}, claims, self._active)
        return IssuedAccessToken(token, datetime.fromtimestamp(expires, tz=utcnow().tzinfo))

    def verify(self, token: str) -> AccessClaims:
        if len(token) > 4096:
            raise TokenError("token too long")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
            self._registry.validate(decoded.claims)
            return AccessClaims(
                user_id=uuid.UUID(str(decoded.claims["sub"])),
                session_id=uuid.UUID(str(decoded.claims["sid"])),
                expires_at=float(decoded.claims["exp"]),
            )
        except ExpiredTokenError as exc:
            raise TokenError(str(exc), expired=True) from exc
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise TokenError(str(exc)) from exc
