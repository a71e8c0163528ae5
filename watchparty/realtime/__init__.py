"""Realtime events: a durable, ordered, resumable log per channel with cross-process fan-out.

The transport under `watchparty.events` (which gives events their types and is what services
use: `events.record`, `events.publish`, `events.follow`). Here payloads are JSON objects:

    record = await append_event(uow.session, channel, payload)  # inside the unit of work
    publish_after_commit(uow, state.hub, record)

    async with state.hub.subscribe(channel, after=cursor) as stream:  # may raise ResyncRequired
        ...  # cursor None: send a snapshot built now; its cursor is stream.after
        async for delivery in stream:  # ends with SubscriberOverflow / ResyncRequired / HubClosed
            ...  # delivery.seq is the cursor (None for ephemeral events)

`delivery.payload` is what the hub's `decode` made of the JSON (typed events in the app).
Ephemeral signals: `await state.hub.publish_ephemeral(channel, payload)` (not stored).
"""

from watchparty.realtime.broadcast import ResilientRedisBackend, create_broadcast
from watchparty.realtime.errors import (
    HubClosed,
    ResyncRequired,
    StreamInterrupted,
    SubscriberOverflow,
)
from watchparty.realtime.hub import Hub, publish_after_commit, publish_many_after_commit
from watchparty.realtime.log import (
    EventRecord,
    Retention,
    append_event,
    append_events,
    trim_event_log,
)
from watchparty.realtime.subscription import Delivery, DirectJob, Subscription

__all__ = [
    "Delivery",
    "DirectJob",
    "EventRecord",
    "Hub",
    "HubClosed",
    "ResilientRedisBackend",
    "ResyncRequired",
    "Retention",
    "StreamInterrupted",
    "SubscriberOverflow",
    "Subscription",
    "append_event",
    "append_events",
    "create_broadcast",
    "publish_after_commit",
    "publish_many_after_commit",
    "trim_event_log",
]
