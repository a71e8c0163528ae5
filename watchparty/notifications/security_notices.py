"""Notifications about account security: a sign-in from a new device, a password changed or
reset, a sign-in ended because its refresh token was used twice.

Accounts never imports notifications: it runs the callbacks registered with
`accounts.security_hooks.on_security_event` inside the unit of work of each event, and the
composition root (`registry.py`) registers `security_event` there. The event arrives as plain
values (`SecurityEventLike`, which `accounts.security_hooks.SecurityEvent` satisfies).

Security kinds have no actor and no group (each event is its own entry), are kept 90 days and
cannot be turned off (`render.is_security`). Times are UTC; the IP is the one the request came
from (no location lookup).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from watchparty.db import UnitOfWork
from watchparty.notifications.models import NotificationKind
from watchparty.notifications.service import notify

K = NotificationKind
PROVIDERS = {"google": "Google", "github": "GitHub"}


class SecurityEventLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def at(self) -> datetime: ...
    @property
    def device(self) -> str | None: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def method(self) -> str | None: ...


def _time(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


async def security_event(uow: UnitOfWork, event: SecurityEventLike) -> None:
    device = event.device or "an unknown device"
    ip = event.ip or "unknown"
    time = _time(event.at)
    data: dict[str, str]
    if event.kind == "NEW_SIGN_IN":
        provider = PROVIDERS.get(event.method or "")
        via = f" with {provider}" if provider else ""
        data = {"device": device, "via": via, "ip": ip, "time": time}
        kind = K.NEW_SIGN_IN
    elif event.kind == "PASSWORD_CHANGED":
        summary = f"Changed from {device}, IP {ip}, at {time}; your other sign-ins were signed out."
        data = {"changed": "changed", "summary": summary, "time": time}
        kind = K.PASSWORD_CHANGED
    elif event.kind == "PASSWORD_RESET":
        summary = f"Reset with the emailed link at {time}; every sign-in was signed out."
        data = {"changed": "reset", "summary": summary, "time": time}
        kind = K.PASSWORD_CHANGED
    elif event.kind == "REUSE_REVOKED":
        data = {"device": device, "ip": ip, "time": time}
        kind = K.SESSION_REVOKED
    else:
        return
    await notify(uow, [event.user_id], kind, data=data)
