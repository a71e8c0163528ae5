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
import time
from contextlib import suppress

from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from watchparty.context import Context
from watchparty.gql.frames import OperationSlot, current_slot
from watchparty.kit import clock

log = logging.getLogger("watchparty.graphql.ws")

FORBIDDEN = 4403


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    expiry_task: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        claims = getattr(self.context, "claims", None)
        if self.connection_acknowledged and claims is not None and self.expiry_task is None:
            self.expiry_task = asyncio.create_task(self._close_when_expired(claims.expires_at))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Stamp the frame's arrival before anything is parsed: the operation's task, created
        # inside, inherits the stamp (serverTime's serverReceivedMs, kit/clock.py).
        with clock.arrival():
            await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Runs in the operation's own task: the slot is visible to its source stream, its
        # execution context and `send_message` (see `gql.frames`).
        websocket = getattr(self.websocket, "ws", None)
        if isinstance(websocket, WebSocket):
            current_slot.set(OperationSlot(websocket, operation.id))
        await super().run_operation(operation)

    async def send_message(self, message: Message) -> None:
        slot = current_slot.get()
        if slot is not None and message["type"] == "next" and message["id"] == slot.operation_id:
            frame = slot.encode_next(message["payload"])  # type: ignore[typeddict-item,arg-type]
            if frame is not None:
                await slot.send_text(frame)
                return
        await super().send_message(message)

    async def _close_when_expired(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        log.info("closing a WebSocket whose access token expired")
        with suppress(RuntimeError):  # the peer went away at the same moment
            await self.websocket.close(code=FORBIDDEN, reason="Access token expired")

    async def shutdown(self) -> None:
        if self.expiry_task is not None:
            self.expiry_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self.expiry_task
        await super().shutdown()
