"""`notificationEvents(after)`: the signed-in viewer's stream, channel `user:<id>`.

The first item is a `NotificationSnapshot` (the counts, read after subscribing, so nothing falls
between it and the events); its cursor is where the events continue: the client's own `after`
when still retained (`resync: false`, the missed events follow), else the head (`resync: true`:
reload the feed). Every socket of the user follows the same channel, so reading on one device
reaches all. Replay, resync and overflow are `watchparty.events.follow`'s. Anonymous viewers get
NOT_AUTHENTICATED; overflow ends with STREAM_OVERFLOW and `extensions.cursor`, a shutdown with
STREAM_CLOSED.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from watchparty.context import Info
from watchparty.events import Opened, StreamEnded, follow, format_cursor, parse_cursor
from watchparty.gql.streams import ended_error, stream_error
from watchparty.kit.time import utcnow
from watchparty.notifications import service
from watchparty.notifications.events import user_channel
from watchparty.notifications.stream_types import (
    NotificationEvent,
    NotificationSnapshot,
    render,
)
from watchparty.state import AppState


async def notification_event_stream(
    info: Info, after: str | None
) -> AsyncGenerator[NotificationEvent, None]:
    context = info.context
    state: AppState = context.state
    viewer = await context.viewer()
    if viewer is None:
        raise stream_error("You need to sign in.", "NOT_AUTHENTICATED")
    viewer_id = viewer.id
    del viewer  # a stream lives for hours: keep the id, not the ORM object
    try:
        items = follow(state.hub, user_channel(viewer_id), parse_cursor(after))
        async with aclosing(items):
            async for item in items:
                if isinstance(item, Opened):
                    async with state.sessionmaker() as session:
                        counts = await service.counts(session, viewer_id)
                    yield NotificationEvent(
                        cursor=format_cursor(item.after),
                        occurred_at=utcnow(),
                        resync=item.resync,
                        event=NotificationSnapshot(
                            unread_count=counts.unread, unseen_count=counts.unseen
                        ),
                    )
                    context.renew_loaders()
                    continue
                if item.event is None or item.seq is None:
                    continue
                rendered = render(item.event)
                if rendered is not None:
                    yield NotificationEvent(
                        cursor=format_cursor(item.seq),
                        occurred_at=item.created_at,
                        resync=False,
                        event=rendered,
                    )
    except StreamEnded as ended:
        raise ended_error(ended) from None
