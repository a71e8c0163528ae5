"""Writing and following event streams: one implementation for every kind of stream.

A stream is a channel of the realtime log (`watchparty.realtime`): the party stream
(`party:<id>`), a video's processing (`video:<id>`), a member's WebRTC signals, a user's
notifications next. What differs between them is who may follow and what a client sees first;
recording, publishing, cursors, replay, resync and overflow are written here once.

Writers, in a unit of work (the unit carries the outbox: events are stored with the change and
announced to every process only after the commit, so a rolled-back change publishes nothing)::

    await record(uow, party_channel(party.id), PlaybackChanged(playback=...))
    await record_many(uow, [(channel, event), ...])  # many channels, constant statements

and, for what is never stored (typing, presence, progress)::

    await publish(hub, channel, TypingChanged(...))   # best effort: False when Redis is down

Readers::

    async for item in follow(hub, channel, after=parse_cursor(after)):
        match item:
            case Opened(after=seq, resync=resync): ...  # build the snapshot; its cursor is seq
            case Arrival(): ...                          # item.event, item.seq (None: ephemeral)

`follow` re-opens after a gap that fell out of retention (a new `Opened` with `resync`), and ends
with `StreamEnded` (OVERFLOW with the last cursor delivered, or CLOSED) instead of the hub's
transport exceptions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from watchparty.events.schema import Event, encode
from watchparty.realtime import (
    Delivery,
    DirectJob,
    EventRecord,
    HubClosed,
    ResyncRequired,
    SubscriberOverflow,
    Subscription,
    append_event,
    append_events,
    publish_after_commit,
    publish_many_after_commit,
)

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.realtime import Hub

CURSOR_MAX_DIGITS = 18


def channel_of(kind: str, *ids: uuid.UUID | str) -> str:
    """The channel of one stream: `channel_of("party", party_id)` is `party:<id>`."""
    return ":".join((kind, *(str(part) for part in ids)))


def format_cursor(seq: int) -> str:
    return str(seq)


def parse_cursor(cursor: str | None) -> int | None:
    """The seq of a client's cursor; None without one; -1 for a malformed one (answered, like
    a cursor past retention, with a resync)."""
    if cursor is None:
        return None
    text = cursor.strip()
    if not text.isdigit() or len(text) > CURSOR_MAX_DIGITS:
        return -1
    return int(text)


async def record(uow: UnitOfWork, channel: str, event: Event) -> EventRecord:
    """Append `event` to `channel` in `uow` and announce it once `uow` commits."""
    if not type(event).STORED:
        raise ValueError(f"{type(event).KIND} is ephemeral: publish it")
    if uow.hub is None:
        raise RuntimeError("this unit of work has no hub: open it with state.unit_of_work()")
    entry = await append_event(uow.session, channel, encode(event))
    publish_after_commit(uow, uow.hub, entry)
    return entry


async def record_many(uow: UnitOfWork, entries: Sequence[tuple[str, Event]]) -> list[EventRecord]:
    """`record` for many events on many channels at once, in a constant number of statements
    (`realtime.append_events`): per channel the events get consecutive seqs in the order given,
    exactly as recording them one by one would, and each channel is announced once after the
    commit. Returns one record per entry, in order."""
    for _, event in entries:
        if not type(event).STORED:
            raise ValueError(f"{type(event).KIND} is ephemeral: publish it")
    if uow.hub is None:
        raise RuntimeError("this unit of work has no hub: open it with state.unit_of_work()")
    records = await append_events(
        uow.session, [(channel, encode(event)) for channel, event in entries]
    )
    publish_many_after_commit(uow, uow.hub, records)
    return records


async def publish(hub: Hub, channel: str, event: Event) -> bool:
    """Fan out an ephemeral event: no cursor, never stored or replayed, not tied to a
    transaction. Best effort: False when the broadcast is unavailable."""
    if type(event).STORED:
        raise ValueError(f"{type(event).KIND} is stored: record it in a unit of work")
    return await hub.publish_ephemeral(channel, encode(event))


class EndReason(StrEnum):
    OVERFLOW = "STREAM_OVERFLOW"  # fell more than the queue behind: resume from `cursor`
    CLOSED = "STREAM_CLOSED"  # this process is shutting down: reconnect with the cursor


class StreamEnded(Exception):
    def __init__(self, reason: EndReason, cursor: int | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.cursor = cursor


@dataclass(frozen=True, slots=True)
class Opened:
    """The stream (re)started after `after`; `resync`: the client's cursor could not be
    honoured (past retention, malformed, or a gap): its state must be replaced."""

    after: int
    resync: bool


@dataclass(frozen=True, slots=True)
class Arrival:
    """One event. `event` is shared by every local subscriber: read it, never mutate it; None
    when this process cannot read it (a newer writer's kind), which readers skip. `key`
    identifies the arrival for per-process caches of what is rendered from it."""

    seq: int | None
    created_at: datetime
    event: Event | None
    key: object


async def follow(
    hub: Hub,
    channel: str,
    after: int | None,
    direct: Callable[[Arrival], DirectJob | bool | None] | None = None,
) -> AsyncGenerator[Opened | Arrival, None]:
    """`channel` after `after` (None: from now): `Opened`, the events, and again `Opened`
    whenever the stream has to resync.

    `direct`: the consumer's fast path. While it waits for the next item with nothing queued,
    a stored event is first offered to `direct` (by the channel reader, synchronously): True
    when it delivered the event itself, a `DirectJob` the reader finishes (False from its
    `finish`: the event is yielded here after all), None to have it yielded here. Consumers use
    it to write to their client without waking up."""
    requested = after
    while True:
        subscription, resync = await _open(hub, channel, requested)
        if direct is not None:
            subscription.direct = _arrivals(channel, direct)
        try:
            yield Opened(subscription.after, resync)
            async for delivery in subscription:
                key = (channel, delivery.seq) if delivery.seq is not None else delivery
                yield Arrival(delivery.seq, delivery.created_at, delivery.payload, key)
        except ResyncRequired:
            requested = -1  # fell into a trimmed gap: start over from now
            continue
        except SubscriberOverflow as exc:
            raise StreamEnded(EndReason.OVERFLOW, exc.cursor) from None
        except HubClosed:
            raise StreamEnded(EndReason.CLOSED) from None
        finally:
            await subscription.__aexit__(None, None, None)


def _arrivals(
    channel: str, direct: Callable[[Arrival], DirectJob | bool | None]
) -> Callable[[Delivery], DirectJob | bool | None]:
    def offer(delivery: Delivery) -> DirectJob | bool | None:
        key = (channel, delivery.seq)
        return direct(Arrival(delivery.seq, delivery.created_at, delivery.payload, key))

    return offer


async def _open(hub: Hub, channel: str, cursor: int | None) -> tuple[Subscription, bool]:
    try:
        try:
            subscription = hub.subscribe(channel, after=cursor)
            await subscription.__aenter__()
            return subscription, False
        except ResyncRequired:
            subscription = hub.subscribe(channel, after=None)
            await subscription.__aenter__()
            return subscription, True
    except HubClosed:
        raise StreamEnded(EndReason.CLOSED) from None
