"""Title, body, action path, retention and push TTL of each kind: one table, rendered on the
server.

Plain text sized for a push banner (title at most 80 characters, body at most 180; longer text
is cut with an ellipsis). Templates name `{actors}` ("Bob", "Bob and Carol", "Bob and 3
others": the latest actor and how many distinct others a collapsed entry holds) and keys of the
notification's `data`; a missing key renders empty, and an action path with a missing key is
none. Producers put what the text needs in `data` (a party's title, a video's title...), so
rendering never reads the database.

The push TTL is how long FCM may hold a push for an offline device (and how long the delivery
job keeps trying): a reminder is worthless after 15 minutes, a chat mention after an hour; the
default, security kinds included, is a day.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from watchparty.notifications.models import (
    BODY_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    NotificationKind,
)

K = NotificationKind
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DEFAULT_RETENTION = 30 * DAY
SECURITY_RETENTION = 90 * DAY
DEFAULT_PUSH_TTL = DAY


@dataclass(frozen=True, slots=True)
class Template:
    title: str
    body: str = ""
    path: str | None = None
    retention: timedelta = DEFAULT_RETENTION
    security: bool = False  # account security: cannot be turned off (preferences)
    push_ttl: timedelta = DEFAULT_PUSH_TTL


TEMPLATES: dict[NotificationKind, Template] = {
    K.PARTY_INVITE: Template(
        "{actors} invited you to {partyTitle}", "Join the party.", "/parties/{partyId}"
    ),
    K.JOIN_REQUEST: Template(
        "{actors} asked to join {partyTitle}",
        "Approve or decline in the members list.",
        "/parties/{partyId}",
    ),
    K.JOIN_APPROVED: Template(
        "You can join {partyTitle}", "Your request was approved.", "/parties/{partyId}"
    ),
    K.JOIN_REJECTED: Template("Your request to join {partyTitle} was declined"),
    K.ROLE_CHANGED: Template(
        "You are now {role} in {partyTitle}", "{actors} changed your role.", "/parties/{partyId}"
    ),
    K.HOST_TRANSFERRED: Template(
        "You are now the host of {partyTitle}",
        "{handover}",
        "/parties/{partyId}",
    ),
    K.KICKED: Template("You were removed from {partyTitle}"),
    K.BANNED: Template("You were banned from {partyTitle}"),
    K.PARTY_STARTING_SOON: Template(
        "{partyTitle} starts in {startsIn}",
        "Get ready.",
        "/parties/{partyId}",
        DAY,
        push_ttl=timedelta(minutes=15),
    ),
    K.PARTY_STARTED: Template(
        "{partyTitle} has started", "Join in.", "/parties/{partyId}", DAY, push_ttl=HOUR
    ),
    K.MENTION: Template(
        "{actors} mentioned you in {partyTitle}",
        "{excerpt}",
        "/parties/{partyId}?message={messageId}",
        push_ttl=HOUR,
    ),
    K.REPLY: Template(
        "{actors} replied to you",
        "{excerpt}",
        "/parties/{partyId}?message={messageId}",
        push_ttl=HOUR,
    ),
    K.POLL_OPENED: Template(
        "New poll in {partyTitle}", "{question}", "/parties/{partyId}", 7 * DAY, push_ttl=HOUR
    ),
    K.VIDEO_READY: Template(
        "Your video is ready", "{videoTitle} is ready to watch.", "/videos/{videoId}"
    ),
    K.VIDEO_FAILED: Template(
        "Your video could not be processed", "{videoTitle}: {reason}", "/videos/{videoId}"
    ),
    K.NEW_SIGN_IN: Template(
        "New sign-in to your account",
        "{device}{via}, IP {ip}, at {time}. Not you? Sign it out and change your password.",
        "/settings/sessions",
        SECURITY_RETENTION,
        security=True,
    ),
    K.PASSWORD_CHANGED: Template(
        "Your password was {changed}",
        "{summary} Not you? Reset your password now.",
        "/settings/security",
        SECURITY_RETENTION,
        security=True,
    ),
    K.SESSION_REVOKED: Template(
        "A sign-in was signed out",
        "A sign-in ({device}) was signed out because its token was used twice, at {time}. "
        "If it was yours, sign in again; if not, change your password.",
        "/settings/sessions",
        SECURITY_RETENTION,
        security=True,
    ),
    K.PAYMENT_SUCCEEDED: Template(
        "Payment received", "Thank you: {amount} was paid.", "/settings/billing"
    ),
    K.PAYMENT_FAILED: Template(
        "Your payment failed",
        "We could not charge {amount}. Update your payment method.",
        "/settings/billing",
    ),
    K.PAYMENT_ACTION_REQUIRED: Template(
        "Confirm your payment",
        "Your bank asks you to confirm the payment of {amount}.",
        "/settings/billing",
    ),
    K.SUBSCRIPTION_CHANGED: Template(
        "Your subscription changed", "You are now on {plan}.", "/settings/billing"
    ),
    K.TRIAL_ENDING: Template(
        "Your trial ends in {days} days", "Choose a plan to keep it.", "/settings/billing"
    ),
    K.ANNOUNCEMENT: Template("{title}", "{body}", "{path}"),
}


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str
    action_path: str | None


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class _Strict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def actors_phrase(latest: str | None, count: int) -> str:
    """ "Bob", "Bob and 1 other", "Bob and 3 others": only the latest actor is named."""
    name = latest or "Someone"
    others = count - 1
    if others <= 0:
        return name
    return f"{name} and {others} other{'s' if others > 1 else ''}"


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line: no newlines or runs of spaces in a banner
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def render(
    kind: NotificationKind, data: Mapping[str, Any], actor_name: str | None, actor_count: int
) -> Rendered:
    template = TEMPLATES[kind]
    values = {key: _text(value) for key, value in data.items()}
    values["actors"] = actors_phrase(actor_name, actor_count)
    formatter = string.Formatter()
    title = formatter.vformat(template.title, (), _Blank(values))
    body = formatter.vformat(template.body, (), _Blank(values))
    path: str | None = None
    if template.path is not None:
        try:
            path = formatter.vformat(template.path, (), _Strict(values)) or None
        except KeyError:
            path = None
    if path is not None and not path.startswith("/"):
        path = None  # only paths inside the frontend
    return Rendered(_cut(title, TITLE_MAX_LENGTH), _cut(body, BODY_MAX_LENGTH), path)


def retention(kind: NotificationKind) -> timedelta:
    return TEMPLATES[kind].retention


def is_security(kind: NotificationKind) -> bool:
    """Account security kinds: always delivered, whatever the preferences say."""
    return TEMPLATES[kind].security


def push_ttl(kind: NotificationKind) -> timedelta:
    return TEMPLATES[kind].push_ttl
