"""ICE servers for WebRTC: STUN as configured, TURN with time-limited credentials.

TURN credentials follow the "TURN REST API" scheme that coturn implements (`use-auth-secret` +
`static-auth-secret`): username `"<expiry epoch seconds>:<user id>"`, credential
`base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the credential from the
username and refuses it after the expiry, so nothing is stored and nothing needs revoking.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from watchparty.config import Settings


@dataclass(frozen=True, slots=True)
class IceServerConfig:
    urls: list[str]
    username: str | None = None
    credential: str | None = None
    credential_expires_at: datetime | None = None


def _urls(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def ice_servers(
    settings: Settings, user_id: uuid.UUID, now: float | None = None
) -> list[IceServerConfig]:
    """STUN (if any) first, then TURN with a credential valid `turn_credential_ttl_seconds`."""
    servers: list[IceServerConfig] = []
    stun = _urls(settings.stun_urls)
    if stun:
        servers.append(IceServerConfig(urls=stun))
    turn = _urls(settings.turn_urls)
    if turn and settings.turn_secret:
        expiry = int(time.time() if now is None else now) + settings.turn_credential_ttl_seconds
        username = f"{expiry}:{user_id}"
        servers.append(
            IceServerConfig(
                urls=turn,
                username=username,
                credential=turn_credential(settings.turn_secret, username),
                credential_expires_at=datetime.fromtimestamp(expiry, UTC),
            )
        )
    return servers
