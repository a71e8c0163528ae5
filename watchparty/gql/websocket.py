"""graphql-transport-ws with two additions: a signed-in socket closes when its token expires, and
subscription frames shared by many subscribers are encoded once (`gql.frames`).

The access token is checked once, at `connection_init`. Without a timer a socket opened with a
15-minute token would stay signed in for as long as it stays open. Closing with 4403 makes the
standard `graphql-ws` client reconnect, and its `connectionParams` callback supplies a fresh
token (after a refresh through the cookie).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextlib import suppress

from starlette.websockets import WebSocket
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from watchparty.accounts import revocations
from watchparty.context import Context
from watchparty.gql.frames import OperationSlot, current_slot
from watchparty.http.ws_transport import SendBounds, send_bounds
from watchparty.kit import clock

log = logging.getLogger("watchparty.graphql.ws")

FORBIDDEN = 4403


_SUBSCRIBE_FIELDS = {
    "query": (str,),
    "variables": (dict, type(None)),
    "operationName": (str, type(None)),
    "extensions": (dict, type(None)),
}


def malformed(message: object) -> str | None:
    """Why a client message cannot be handled, or None. Strawberry trusts the shape (a string
    `payload` or a list as `variables` crashed the socket's task, which then dropped without a
    close code); the protocol answers an invalid message with 4400."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be a JSON object with a string `type`."
    if message["type"] in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f"A {message['type']} message needs a string `id`."
    if message["type"] != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "A subscribe message's `payload` must be an object."
    for key, kinds in _SUBSCRIBE_FIELDS.items():
        if not isinstance(payload.get(key), kinds):
            return f"Invalid `{key}` in the subscribe payload."
    return None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    expiry_timer: asyncio.TimerHandle | None = (
        None  # a timer, not a task: ~2 KB less an idle socket
    )
    closing_task: asyncio.Task[None] | None = None
    slots: dict[str, OperationSlot]  # live operations' slots (set in `handle`)
    bounds: SendBounds | None = None

    async def handle(self) -> None:
        self.slots = {}
        # A peer that stops reading is aborted after a bounded wait (`http.ws_transport`).
        websocket = getattr(self.websocket, "ws", None)
        bounds = send_bounds(websocket.scope) if isinstance(websocket, WebSocket) else None
        self.bounds = bounds
        if bounds is not None:
            settings = self.context.state.settings
            bounds.configure(
                send_timeout=settings.ws_send_timeout_seconds,
                max_buffered=settings.ws_max_buffered_bytes,
                describe=self._last_cursors,
            )
        await super().handle()

    def _last_cursors(self) -> dict[str, object]:
        """For the abort's log line: each stream's last cursor written to the socket."""
        cursors = {key: slot.cursor for key, slot in self.slots.items() if slot.cursor}
        return {"cursors": cursors} if cursors else {}

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):
            return  # the peer went (or was aborted) while an operation was sending: expected
        await super().handle_task_exception(error)

    async def handle_message(self, message: Message) -> None:
        reason = malformed(message)
        if reason is not None:
            await self.handle_invalid_message(reason)  # closes with 4400
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        timeout = self.connection_init_timeout_task
        if self.connection_init_received and timeout is not None and not timeout.done():
            # Strawberry's task would sleep out the whole init timeout and then return: end it
            # now rather than keep a task, a future and a timer per idle connection that long.
            timeout.cancel()
        claims = getattr(self.context, "claims", None)
        if self.connection_acknowledged and claims is not None and self.expiry_timer is None:
            delay = max(0.0, claims.expires_at - time.time())
            self.expiry_timer = asyncio.get_running_loop().call_later(delay, self._expired)

    def _expired(self) -> None:
        self.expiry_timer = None
        self.closing_task = asyncio.create_task(self._close_expired())

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Stamp the frame's arrival before anything is parsed: the operation's task, created
        # inside, inherits the stamp (serverTime's serverReceivedMs, kit/clock.py).
        with clock.arrival():
            payload = message["payload"]
            query = payload.get("query")
            if isinstance(query, str):
                # Every tab of a frontend sends the same text, and the operation keeps it for
                # its lifetime: one string for all of them (~1 KB per subscription).
                payload["query"] = sys.intern(query)
            await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Runs in the operation's own task: the slot is visible to its source stream, its
        # execution context and `send_message` (see `gql.frames`).
        websocket = getattr(self.websocket, "ws", None)
        if not isinstance(websocket, WebSocket):
            await super().run_operation(operation)
            return
        slot = OperationSlot(websocket, operation.id, self.bounds)
        self.slots[operation.id] = slot
        current_slot.set(slot)
        try:
            await super().run_operation(operation)
        finally:
            slot.release()  # a claim the channel reader made for it must not stay pending
            if self.slots.get(operation.id) is slot:
                del self.slots[operation.id]

    async def send_message(self, message: Message) -> None:
        slot = current_slot.get()
        if slot is not None and message["type"] == "next" and message["id"] == slot.operation_id:
            frame = slot.encode_next(message["payload"])  # type: ignore[typeddict-item,arg-type]
            if frame is not None:
                await slot.send_text(frame)
                return
        await super().send_message(message)

    async def _close_expired(self) -> None:
        log.info("closing a WebSocket whose access token expired")
        with suppress(RuntimeError):  # the peer went away at the same moment
            await self.websocket.close(code=FORBIDDEN, reason="Access token expired")

    async def shutdown(self) -> None:
        claims = getattr(self.context, "claims", None)
        watch = revocations.get_watch(self.context.state)
        socket = self.context.request
        if claims is not None and watch is not None and isinstance(socket, WebSocket):
            watch.unregister(claims.session_id, socket)  # registered by the view's on_ws_connect
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
            self.expiry_timer = None
        if self.closing_task is not None and self.closing_task is not asyncio.current_task():
            self.closing_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self.closing_task
        await super().shutdown()
