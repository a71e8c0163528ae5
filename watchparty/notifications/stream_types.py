"""The `notificationEvents` items: a snapshot first, then the stored events rendered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

import strawberry

from watchparty.events import Event
from watchparty.notifications import events
from watchparty.notifications.types import Notification


@strawberry.type(description="The first item of a stream (and after a resync): the counts now.")
class NotificationSnapshot:
    unread_count: int
    unseen_count: int = strawberry.field(description="The badge: neither seen nor read.")


@strawberry.type(description="A new entry in the viewer's feed.")
class NotificationAdded:
    notification: Notification


@strawberry.type(description="A collapsed entry grew: it moves to the top of the feed.")
class NotificationUpdated:
    notification: Notification


@strawberry.type(description="Entries became read (on any of the viewer's devices).")
class NotificationsRead:
    ids: list[strawberry.ID] = strawberry.field(description="Empty with `all`.")
    all: bool
    unread_count: int
    unseen_count: int


@strawberry.type(
    description="Entries were deleted (on any of the viewer's devices): remove them from the "
    "feed; with `all`, every entry is gone."
)
class NotificationsDeleted:
    ids: list[strawberry.ID] = strawberry.field(description="Empty with `all`.")
    all: bool
    unread_count: int
    unseen_count: int


@strawberry.type(description="The counts changed (new entries, seen).")
class UnreadCountChanged:
    unread_count: int
    unseen_count: int


NotificationEventUnion = Annotated[
    NotificationSnapshot
    | NotificationAdded
    | NotificationUpdated
    | NotificationsRead
    | NotificationsDeleted
    | UnreadCountChanged,
    strawberry.union("NotificationEventUnion"),
]


@strawberry.type(description="One item of the viewer's notification stream.")
class NotificationEvent:
    cursor: str = strawberry.field(
        description="Pass the last cursor seen as `after` when reconnecting to get exactly the "
        "missed events."
    )
    occurred_at: datetime
    resync: bool = strawberry.field(
        description="True on a snapshot sent because the events after the client's cursor are "
        "no longer retained: reload the feed."
    )
    event: NotificationEventUnion


# Other domains' items of this stream (billing's `EntitlementsChanged`): their event class ->
# renderer. Notifications imports none of them; the composition root (`schema.py`) registers
# them with `use_renderers` and adds their types to the union (`gql.extend.widen_union`).
_renderers: dict[type[Event], Callable[[Any], Any]] = {}


def use_renderers(renderers: Mapping[type[Event], Callable[[Any], Any]]) -> None:
    """Render these events of other domains on the stream (idempotent)."""
    _renderers.update(renderers)


def render(event: Event) -> NotificationEventUnion | None:
    """The GraphQL member of a stored event; None for a kind this stream does not show."""
    other = _renderers.get(type(event))
    if other is not None:
        rendered: NotificationEventUnion = other(event)
        return rendered
    match event:
        case events.NotificationAdded(notification=payload):
            return NotificationAdded(notification=Notification.from_payload(payload))
        case events.NotificationUpdated(notification=payload):
            return NotificationUpdated(notification=Notification.from_payload(payload))
        case events.NotificationsRead():
            return NotificationsRead(
                ids=[strawberry.ID(i) for i in event.ids],
                all=event.all,
                unread_count=event.unread_count,
                unseen_count=event.unseen_count,
            )
        case events.NotificationsDeleted():
            return NotificationsDeleted(
                ids=[strawberry.ID(i) for i in event.ids],
                all=event.all,
                unread_count=event.unread_count,
                unseen_count=event.unseen_count,
            )
        case events.UnreadCountChanged():
            return UnreadCountChanged(
                unread_count=event.unread_count, unseen_count=event.unseen_count
            )
    return None
