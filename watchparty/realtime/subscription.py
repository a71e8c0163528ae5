"""One subscriber's view of a channel: catch up from its cursor, then a bounded live queue."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from watchparty.realtime.errors import ResyncRequired, StreamInterrupted, SubscriberOverflow
from watchparty.realtime.log import StoredEvent

if TYPE_CHECKING:
    from watchparty.realtime.hub import Hub
    from watchparty.realtime.reader import ChannelReader


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event as a subscriber sees it. `seq` is the cursor (None for ephemeral events).

    `payload` is decoded once per process (by the hub's `decode`: the JSON object itself unless
    the hub was given one, typed events in the app) and shared by every local subscriber: read
    it, never mutate it.
    """

    seq: int | None
    payload: Any
    created_at: datetime


Decoder = Callable[[dict[str, Any]], Any]


class DirectJob:
    """A delivery the channel reader finishes itself (`Subscription.direct`): it awaits `wait`
    (when there is one: e.g. another subscriber still encoding the shared frame), then calls
    `finish`, which returns False when the event must be queued for the consumer after all."""

    __slots__ = ("finish", "wait")

    def __init__(self, finish: Callable[[], bool], wait: asyncio.Future[Any] | None = None):
        self.finish = finish
        self.wait = wait


# A live subscriber's fast path (`Subscription.direct`): given a stored event while the consumer
# is idle, None (queue it as usual), True (delivered already, synchronously) or a `DirectJob`.
DirectPath = Callable[[Delivery], "DirectJob | bool | None"]


def decode(event: StoredEvent, decoder: Decoder) -> Delivery:
    return Delivery(event.seq, decoder(json.loads(event.payload)), event.created_at)


class Subscription:
    """`async with hub.subscribe(channel, after) as stream:` then `async for d in stream`.

    Entering validates the cursor (raising `ResyncRequired` when it is past retention) and sets
    `after`: the seq the stream continues from. With `after=None` that is the channel's current
    seq, read before the caller builds its snapshot, so every change the snapshot may miss comes
    down the stream (a change can arrive both in the snapshot and as an event; events are state,
    applying one twice is harmless).

    A subscriber behind the channel reads its backlog from the log page by page (its own reads,
    once per reconnect), then joins the live set the channel reader fans out to. Live events
    land in a queue of at most `queue_size`; past that the queue is dropped and iteration raises
    `SubscriberOverflow`. Iteration ends with `ResyncRequired` or `HubClosed` as well.
    """

    __slots__ = (
        "_catching_up",
        "_error",
        "_hub",
        "_items",
        "_limit",
        "_position",
        "_reader",
        "_requested",
        "_waiter",
        "after",
        "channel",
        "cursor",
        "direct",
    )

    def __init__(self, hub: Hub, channel: str, after: int | None, limit: int) -> None:
        self._hub = hub
        self.channel = channel
        self._requested = after
        self._limit = limit
        self._items: deque[Delivery] | None = None  # made on the first event, dropped when empty
        self._reader: ChannelReader | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: StreamInterrupted | None = None
        self._catching_up = False
        self._position = 0  # last seq queued for (or read by) this subscriber
        self.after = 0  # where the stream starts
        self.cursor = 0  # last seq handed to the consumer (or delivered by `direct`)
        # Set by the consumer: the channel reader offers it stored events while the consumer
        # waits with nothing queued (see `DirectPath`).
        self.direct: DirectPath | None = None

    async def __aenter__(self) -> Subscription:
        if self._reader is not None:
            raise RuntimeError("a Subscription can be entered once")
        reader = await self._hub.acquire(self.channel)
        try:
            if self._requested is None:
                start = await self._hub.current_seq(self.channel)
            else:
                start = self._requested
                if start != reader.last_seq:
                    await self._hub.check_cursor(self.channel, start)
        except BaseException:
            await self._hub.release(reader)
            raise
        self._reader = reader
        self.after = self.cursor = self._position = start
        reader.subscribers.add(self)
        if start >= reader.last_seq:
            reader.live.add(self)
        else:
            self._catching_up = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        reader, self._reader = self._reader, None
        self._items = None
        if reader is not None:
            reader.live.discard(self)
            reader.subscribers.discard(self)
            await self._hub.release(reader)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            items = self._items
            if items:
                delivery = items.popleft()
                if not items:
                    self._items = None  # an idle subscriber holds no queue
                if delivery.seq is not None:
                    self.cursor = delivery.seq
                return delivery
            if self._error is not None:
                raise self._error
            if self._reader is None:
                raise RuntimeError("iterate inside `async with hub.subscribe(...)`")
            if self._catching_up:
                await self._catch_up_page(self._reader)
                continue
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    @property
    def queued(self) -> int:
        return len(self._items) if self._items is not None else 0

    async def _catch_up_page(self, reader: ChannelReader) -> None:
        # The check and the join happen with no await in between, so the reader cannot fan out
        # an event this subscriber would then miss.
        if self._position >= reader.last_seq:
            self._catching_up = False
            reader.live.add(self)
            return
        events = await self._hub.read_after(self.channel, self._position, self._limit)
        if self._error is not None:
            return
        for event in events:
            if event.seq != self._position + 1:
                break
            self._queue().append(decode(event, self._hub.decode))
            self._position = event.seq
        else:
            if events:
                return
        # A hole (trimmed while we were behind): the client must resync.
        self.fail(ResyncRequired(self.channel, self._position))

    def offer(self, delivery: Delivery) -> DirectJob | None:
        """Called by the channel reader for live deliveries (synchronously, never awaits).
        Returns the `direct` path's job when it takes the delivery and has to wait for
        something (the reader finishes it)."""
        if self._error is not None:
            return None
        if delivery.seq is not None:
            if delivery.seq <= self._position:
                return None  # the subscriber started ahead of the reader
            if delivery.seq != self._position + 1:
                self.fail(ResyncRequired(self.channel, self._position))
                return None
            self._position = delivery.seq
            direct = self.direct
            waiter = self._waiter
            if direct is not None and not self._items and waiter is not None and not waiter.done():
                job = direct(delivery)
                if job is True:
                    self.cursor = delivery.seq
                    return None
                if isinstance(job, DirectJob):
                    self.cursor = delivery.seq
                    return job
        self.requeue(delivery)
        return None

    def requeue(self, delivery: Delivery) -> None:
        """Queue a delivery for the consumer (also: a `direct` job that could not deliver)."""
        if self._error is not None:
            return
        items = self._queue()
        if len(items) >= self._limit:
            self.fail(SubscriberOverflow(self.channel, self.cursor))
            return
        items.append(delivery)
        self._wake()

    def fail(self, error: StreamInterrupted) -> None:
        """End this stream with `error`; queued events are dropped (the client has a cursor)."""
        if self._error is None:
            self._error = error
        self._items = None
        if self._reader is not None:
            self._reader.live.discard(self)
        self._wake()

    def _queue(self) -> deque[Delivery]:
        if self._items is None:
            self._items = deque()
        return self._items

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
