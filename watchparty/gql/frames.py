"""Subscription frames encoded once and written to every subscriber with the same selection.

A party of a thousand members receives every event a thousand times. Through Strawberry's
graphql-transport-ws handler each delivery costs a full trip: the source stream's generators,
graphql-core's per-event executor, the schema extensions' hooks, a result object, a message dict
and its JSON encoding: about 0.3 ms of CPU per subscriber and event, ten times a raw WebSocket
send. When the selection is the same for every viewer (`SharedEventExecutor` decides), the
`next` payload for an event is the same bytes for all of them. So:

- the first subscriber of a process to reach an event *claims* it and goes the normal way; the
  handler's `send_message` keeps the encoded payload on the event (`PartyEvent.shared_frames`);
- every other subscriber writes `{"id": <its operation id>, "type": "next", "payload": <those
  bytes>}` straight to its socket, from inside the source stream, without yielding the event to
  Strawberry (it waits for the claimant when that one is still executing);
- when the claimant's result cannot be shared (errors, extensions, an unshareable selection, or
  the claimant went away), the others fall back to the normal way.

Ordering is kept: a source stream resumes only after the previous frame of its operation was
sent, and a direct write happens in the same place in the stream as the `yield` it replaces.

Caught-up subscribers are not even woken: while an operation waits for its next item with
nothing queued, its socket is writable and its selection is shared for the event's type, the
channel reader (`realtime.ChannelReader`, one task per channel and process) asks its slot for a
job (`direct_job`): the first such subscriber claims the event (its task encodes it), the others'
jobs write `prefix + payload + "}"` from the reader once the payload exists. The reader fans the
next event out only after, so each socket still gets its events in order; a job that cannot
write (paused socket, failed claim) hands the event back to the subscriber's task.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected

from watchparty.realtime.subscription import DirectJob

if TYPE_CHECKING:
    from watchparty.http.ws_transport import SendBounds

NOT_SHARED: Any = object()  # a share key meaning "execute per subscriber"


class FrameStats:
    """Process-wide counts of how events reached subscribers (tests, observability)."""

    __slots__ = ("claimed", "direct", "encoded", "reader")

    def __init__(self) -> None:
        self.direct = 0  # frames written straight to a socket (by the subscriber's task)
        self.reader = 0  # frames written straight to a socket by the channel's reader
        self.claimed = 0  # events a subscriber took the normal way for the others
        self.encoded = 0  # claims fulfilled with a shareable payload


stats = FrameStats()


class OperationSlot:
    """What the fast path knows about one graphql-transport-ws operation (one per subscription).

    Lives in the operation's task (a context variable), so the source stream, the execution
    context and the handler's `send_message` of the same operation all see it.
    """

    __slots__ = (
        "_bounds",
        "_claim",
        "_frames",
        "_websocket",
        "cursor",
        "keyer",
        "operation_id",
        "prefix",
        "share_key",
    )

    def __init__(
        self, websocket: WebSocket, operation_id: str, bounds: SendBounds | None = None
    ) -> None:
        self._websocket = websocket
        self._bounds = bounds  # tells whether the socket's writes are paused
        self.operation_id = operation_id
        self.prefix = '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
        # The share key of the event at hand (`keyer` makes it: set by the execution context on
        # the first event, the snapshot; a selection may be shared for some event types only).
        self.share_key: Any = None
        self.keyer: Callable[[Any], Any] | None = None
        # The last cursor this operation wrote to the socket (a stream sets it): logged when a
        # stalled socket is aborted (`http.ws_transport`). The client's own cursor is the one to
        # resume from: bytes written may never have been read.
        self.cursor: str | None = None
        self._claim: asyncio.Future[str | None] | None = None
        self._frames: dict[Any, Any] | None = None

    async def send_shared(self, item: Any) -> bool:
        """Write the stream item (its encoded payloads are `item.shared_frames`) straight to the
        socket; False when the caller must yield it the normal way (then it may hold the
        claim)."""
        frames = item.shared_frames
        keyer = self.keyer
        if frames is None or keyer is None:
            return False
        key = self.share_key = keyer(item)
        if key is None or key is NOT_SHARED:
            return False
        entry = frames.get(key)
        if entry is None:
            self._claim = asyncio.get_running_loop().create_future()
            self._frames = frames
            frames[key] = self._claim
            stats.claimed += 1
            return False
        if entry is self._claim:
            return False  # claimed for this subscriber by the channel reader (`direct_job`)
        if isinstance(entry, asyncio.Future):
            # shield: this subscriber going away must not cancel the others' wait
            entry = await asyncio.shield(entry)
            if entry is None:
                return False
        await self.send_text(self.prefix + entry + "}")
        stats.direct += 1
        return True

    def writable(self) -> bool:
        """Whether a frame written now goes out without waiting (the socket is not paused)."""
        bounds = self._bounds
        return bounds is not None and bounds.writable()

    def direct_job(self, item: Any) -> DirectJob | bool | None:
        """For the channel reader (`realtime.Subscription.direct`), while this operation waits
        for its next item: write the item's shared frame to the socket without waking the
        operation's task. True: written; a `DirectJob`: the frame is still being encoded by
        another subscriber, the reader writes it once it is; None when this operation's task
        must take the item: the selection is not shared for it, the socket is paused, or nobody
        encoded it yet (then this slot claims it, and its task encodes it for the others)."""
        frames = item.shared_frames
        keyer = self.keyer
        if frames is None or keyer is None or self._claim is not None or not self.writable():
            return None
        key = keyer(item)
        if key is None or key is NOT_SHARED:
            return None
        entry = frames.get(key)
        if entry is None:
            self.share_key = key
            self._claim = asyncio.get_running_loop().create_future()
            self._frames = frames
            frames[key] = self._claim
            stats.claimed += 1
            return None
        cursor = item.cursor
        if not isinstance(entry, asyncio.Future):
            return self._write_now(entry, cursor) or None
        claim: asyncio.Future[str | None] = entry

        def finish() -> bool:
            payload = claim.result()
            return payload is not None and self._write_now(payload, cursor)

        return DirectJob(finish, claim)

    def _write_now(self, payload: str, cursor: str | None) -> bool:
        """Write the shared `next` frame now, from the calling task; False when the socket
        cannot take it at once (the operation's task takes the event the normal way)."""
        bounds = self._bounds
        if bounds is None or not bounds.write_text(self.prefix + payload + "}"):
            return False
        stats.reader += 1
        if cursor is not None:
            self.cursor = cursor
        return True

    def release(self) -> None:
        """After the normal way: waiters of an unfulfilled claim fall back to it too."""
        claim, self._claim = self._claim, None
        frames, self._frames = self._frames, None
        if claim is not None and not claim.done():
            claim.set_result(None)
            if frames is not None and frames.get(self.share_key) is claim:
                del frames[self.share_key]

    def encode_next(self, payload: dict[str, Any]) -> str | None:
        """The frame for a `next` payload sent the normal way; fulfils this slot's claim (the
        encoded payload is kept for the other subscribers) when the payload is only data."""
        claim = self._claim
        if claim is None or claim.done() or set(payload) != {"data"}:
            return None
        encoded = json.dumps(payload)
        frames = self._frames
        if frames is not None:
            frames[self.share_key] = encoded
        claim.set_result(encoded)
        self._claim = self._frames = None
        stats.encoded += 1
        return self.prefix + encoded + "}"

    async def send_text(self, frame: str) -> None:
        try:
            await self._websocket.send_text(frame)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


current_slot: ContextVar[OperationSlot | None] = ContextVar("graphql_operation_slot", default=None)
