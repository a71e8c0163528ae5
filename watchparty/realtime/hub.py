"""The per-process hub: the event log fanned out to local subscribers, woken through broadcast.

The database is the log; broadcast only says "channel X has reached seq N". Per channel and
process there is one `ChannelReader`: one broadcast subscription, and one log read per wake-up
whose decoded events go to every live subscriber's bounded queue. Readers are woken by:

- a notification `n:<seq>` from any process (`Hub.notify`, after the commit), skipped when the
  reader already has that seq (so the publishing process's own echo costs nothing);
- `notify` in this process directly (local subscribers do not wait for the Redis round trip
  and keep working while Redis is down);
- an empty message, which the broadcast backend sends on each channel after it resubscribed
  following a lost connection: events committed while Redis was away are read from the log;
- the safety poll: every `poll_seconds`, one query for the heads of all of this process's
  channels, in case a notification was lost anyway (a publish that failed while Redis was down).

Ephemeral events (`e:<json>`) are fanned out as they arrive and never stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from broadcaster import Broadcast
from sqlalchemy.ext.asyncio import AsyncEngine

from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.kit.redis_guard import RedisUnavailable
from watchparty.kit.time import epoch_ms
from watchparty.realtime.errors import HubClosed, ResyncRequired
from watchparty.realtime.log import (
    EventRecord,
    Retention,
    StoredEvent,
    channel_bounds,
    channel_head,
    channel_heads,
    check_channel,
    encode_payload,
    read_events,
    trim_event_log,
)
from watchparty.realtime.reader import EPHEMERAL_PREFIX, NOTIFY_PREFIX, ChannelReader
from watchparty.realtime.subscription import Decoder, Subscription

log = logging.getLogger(__name__)


class Hub:
    """One per process. `subscribe`, `notify` (after commit), `publish_ephemeral`."""

    def __init__(
        self,
        engine: AsyncEngine,
        broadcast: Broadcast,
        *,
        topic_prefix: str = "",
        queue_size: int = 256,
        retention: Retention | None = None,
        poll_seconds: float = 5.0,
        page_size: int = 200,
        retry_seconds: float = 1.0,
        decode: Decoder | None = None,
    ) -> None:
        self.engine = engine
        self.broadcast = broadcast
        self.topic_prefix = topic_prefix
        self.queue_size = queue_size
        self.retention = retention or Retention()
        self.poll_seconds = poll_seconds
        self.page_size = page_size
        self.retry_seconds = retry_seconds
        # What subscribers receive as `Delivery.payload`, made once per event and process from
        # the stored JSON object (the app passes `watchparty.events.decode`).
        self.decode: Decoder = decode or _as_is
        self._readers: dict[str, ChannelReader] = {}
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        broadcast: Broadcast,
        decode: Decoder | None = None,
    ) -> Hub:
        return cls(
            engine,
            broadcast,
            topic_prefix=settings.redis_key_prefix,
            queue_size=settings.realtime_queue_size,
            retention=Retention(
                settings.realtime_retention_count, settings.realtime_retention_seconds
            ),
            poll_seconds=settings.realtime_poll_seconds,
            decode=decode,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the safety poll (the broadcast must already be connected)."""
        if self.poll_seconds > 0 and self._poller is None:
            self._poller = asyncio.create_task(self._poll_forever(), name="realtime-poll")

    async def close(self) -> None:
        """End every stream with `HubClosed` and stop all readers."""
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.stop(HubClosed("the server is shutting down"))

    # -- the public API ------------------------------------------------------------------------

    def subscribe(self, channel: str, after: int | None = None) -> Subscription:
        """A stream of `channel` after seq `after` (None: from now). Use with `async with`."""
        check_channel(channel)
        return Subscription(self, channel, after, self.queue_size)

    async def current_seq(self, channel: str) -> int:
        async with self.engine.connect() as connection:
            return await channel_head(connection, channel)

    async def notify(self, channel: str, seq: int, *, since: int | None = None) -> None:
        """Tell every process that `channel` reached `seq`. Call only after the commit (see
        `publish_after_commit`). Never raises: a lost notification is caught up by the
        reconnect re-read or the safety poll. `since`: the first seq of a batch that ends at
        `seq` (`publish_many_after_commit`), so the channel is trimmed as often as one by one."""
        reader = self._readers.get(channel)
        if reader is not None:
            reader.hint(seq)
        try:
            await self.broadcast.publish(self.topic(channel), f"{NOTIFY_PREFIX}{seq}")
        except RedisUnavailable:  # logged once by the breaker, not once per event
            log.debug("event notification not published: redis unavailable")
        except Exception:
            log.warning(
                "event notification not published",
                exc_info=True,
                extra={"channel": channel, "seq": seq},
            )
        every = self.retention.trim_every
        if seq // every > ((seq if since is None else since) - 1) // every:  # crossed a multiple
            try:
                await self.trim(channel)
            except Exception:
                log.warning("event log trim failed", exc_info=True, extra={"channel": channel})

    async def publish_ephemeral(self, channel: str, payload: Mapping[str, Any]) -> bool:
        """Fan out a signal that is not stored (typing, presence pings): no seq, no replay.
        Best effort: returns False when the broadcast is unavailable."""
        check_channel(channel)
        message = EPHEMERAL_PREFIX + encode_payload({"t": epoch_ms(), "p": payload})
        try:
            await self.broadcast.publish(self.topic(channel), message)
        except RedisUnavailable:  # logged once by the breaker, not once per event
            log.debug("ephemeral event not published: redis unavailable")
            return False
        except Exception:
            log.warning("ephemeral event not published", exc_info=True, extra={"channel": channel})
            return False
        return True

    async def trim(self, channel: str | None = None) -> int:
        """Apply retention to one channel (or all) in its own short transaction."""
        async with self.engine.begin() as connection:
            return await trim_event_log(connection, self.retention, channel=channel)

    def topic(self, channel: str) -> str:
        return f"{self.topic_prefix}events:{channel}"

    def live_count(self, channel: str) -> int:
        """Live subscribers of `channel` in this process (observability and tests)."""
        reader = self._readers.get(channel)
        return len(reader.live) if reader is not None else 0

    @property
    def channel_count(self) -> int:
        return len(self._readers)

    # -- used by Subscription ------------------------------------------------------------------

    async def acquire(self, channel: str) -> ChannelReader:
        if self._closed:
            raise HubClosed("the server is shutting down")
        reader = self._readers.get(channel)
        if reader is None:
            reader = ChannelReader(self, channel)
            self._readers[channel] = reader
            reader.start()
        reader.refs += 1
        try:
            await asyncio.shield(reader.ready)
        except BaseException:
            await self.release(reader)
            raise
        return reader

    async def release(self, reader: ChannelReader) -> None:
        reader.refs -= 1
        if reader.refs > 0:
            return
        if self._readers.get(reader.channel) is reader:
            del self._readers[reader.channel]
        await reader.stop(None)

    def forget(self, reader: ChannelReader) -> None:
        """Drop a reader whose listener failed; the next subscriber starts a fresh one."""
        if self._readers.get(reader.channel) is reader:
            del self._readers[reader.channel]

    async def read_after(self, channel: str, after: int, limit: int) -> list[StoredEvent]:
        async with self.engine.connect() as connection:
            return await read_events(connection, channel, after=after, limit=limit)

    async def check_cursor(self, channel: str, cursor: int) -> None:
        """Raise `ResyncRequired` unless every event after `cursor` is still in the log."""
        async with self.engine.connect() as connection:
            head, first = await channel_bounds(connection, channel)
        if cursor < 0 or cursor > head:
            raise ResyncRequired(channel, cursor)
        if cursor < head and (first is None or first > cursor + 1):
            raise ResyncRequired(channel, cursor)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if not self._readers:
                continue
            try:
                async with self.engine.connect() as connection:
                    heads = await channel_heads(connection, list(self._readers))
            except Exception:
                log.warning("event log poll failed", exc_info=True)
                continue
            for channel, head in heads.items():
                reader = self._readers.get(channel)
                if reader is not None and reader.ready.done():
                    reader.hint(head)


def publish_after_commit(uow: UnitOfWork, hub: Hub, record: EventRecord) -> None:
    """Notify subscribers once `uow` commits; a rollback drops the notification with the event."""

    async def _notify() -> None:
        await hub.notify(record.channel, record.seq)

    uow.after_commit(_notify)


def publish_many_after_commit(uow: UnitOfWork, hub: Hub, records: Sequence[EventRecord]) -> None:
    """`publish_after_commit` for many records: once `uow` commits, one notification per channel
    (its highest seq: readers read everything up to it), trimming as the events one by one
    would have."""
    spans: dict[str, tuple[int, int]] = {}
    for record in records:
        low, high = spans.get(record.channel, (record.seq, record.seq))
        spans[record.channel] = (min(low, record.seq), max(high, record.seq))
    if not spans:
        return

    async def _notify() -> None:
        for channel, (low, high) in spans.items():
            await hub.notify(channel, high, since=low)

    uow.after_commit(_notify)


def _as_is(payload: dict[str, Any]) -> Any:
    return payload
