"""The per-user notification stream's events, on channel `user:<id>` (stored: resumable by
cursor). `notification` is `notifications.payloads.notification_payload`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, channel_of, register


def user_channel(user_id: uuid.UUID | str) -> str:
    return channel_of("user", user_id)


@register("notifications.added")
@dataclass(frozen=True, slots=True)
class NotificationAdded(Event):
    notification: dict[str, Any]


@register("notifications.updated")
@dataclass(frozen=True, slots=True)
class NotificationUpdated(Event):
    """A collapsed entry grew (another actor, a newer time, re-rendered text)."""

    notification: dict[str, Any]


@register("notifications.read")
@dataclass(frozen=True, slots=True)
class NotificationsRead(Event):
    ids: list[str]  # the entries that became read (empty with `all`)
    all: bool
    unread_count: int
    unseen_count: int


@register("notifications.deleted")
@dataclass(frozen=True, slots=True)
class NotificationsDeleted(Event):
    """Entries were deleted (`deleteNotification`, or all of them: `clearNotifications`)."""

    ids: list[str]  # the entries deleted (empty with `all`)
    all: bool
    unread_count: int
    unseen_count: int


@register("notifications.unread_count_changed")
@dataclass(frozen=True, slots=True)
class UnreadCountChanged(Event):
    unread_count: int
    unseen_count: int
