"""What counts as "a device" for security notices: a browser family on an operating system.

A sign-in's device is read from its User-Agent, without a parser library: the browser family
(Edge, Opera, Firefox, Chrome, Safari...) and the operating system (Windows, macOS, iOS,
Android, ChromeOS, Linux). Versions are ignored, so a browser update is not a new device. A
User-Agent that names no known browser (an app, a script) is its own device: the whole string,
lower-cased with runs of spaces folded.

A sign-in is from a NEW device when the user signed in before (the very first sign-in, at
registration or a first social sign-in, is not news) and none of their sign-ins of the last
`HISTORY_DAYS` days, revoked or not, was from the same device. Sign-ins revoked because a
provider claimed the email (`oauth`: an unverified account that may have been an attacker's)
are not the owner's history.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import AuthSession
from watchparty.kit.time import utcnow

HISTORY_DAYS = 90
HISTORY_CAP = 200  # distinct User-Agents compared (a user with more is unusual)
NOT_THE_OWNERS = "email_claimed"  # the revoked reason of sign-ins that were not the owner's

# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(OPR|Opera)/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(Chrome|CriOS|Chromium)/")),
    ("Safari", re.compile(r"\bSafari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"\b(iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
DESCRIPTION_MAX = 60


def _first(patterns: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> str | None:
    return next((name for name, pattern in patterns if pattern.search(text)), None)


def _folded(user_agent: str | None) -> str:
    return " ".join((user_agent or "").split())


def describe(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Chrome", the User-Agent itself (cut), or "an unknown device"."""
    text = _folded(user_agent)
    if not text:
        return "an unknown device"
    browser, system = _first(_BROWSERS, text), _first(_SYSTEMS, text)
    if browser is None:
        return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"
    return browser if system is None else f"{browser} on {system}"


def device_key(user_agent: str | None) -> str:
    """Equal for two sign-ins from the same device (see the module docstring)."""
    text = _folded(user_agent)
    browser = _first(_BROWSERS, text)
    if browser is None:
        return text.lower()
    return f"{browser}|{_first(_SYSTEMS, text) or ''}"


async def is_new_device(session: AsyncSession, family: AuthSession) -> bool:
    """Whether `family` (just opened) signs its user in from a device not seen lately."""
    owners = or_(AuthSession.revoked_reason.is_(None), AuthSession.revoked_reason != NOT_THE_OWNERS)
    earlier = [AuthSession.user_id == family.user_id, AuthSession.id != family.id, owners]
    recent = await session.scalars(
        select(AuthSession.user_agent)
        .where(*earlier, AuthSession.created_at >= utcnow() - timedelta(days=HISTORY_DAYS))
        .distinct()
        .limit(HISTORY_CAP)
    )
    seen = {device_key(agent) for agent in recent}
    if seen:
        return device_key(family.user_agent) not in seen
    # Nothing lately: news, unless this is the very first sign-in of the account.
    before: uuid.UUID | None = await session.scalar(select(AuthSession.id).where(*earlier).limit(1))
    return before is not None
