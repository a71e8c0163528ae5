"""graphql-transport-ws with one addition: a signed-in socket closes when its token expires.

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

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from watchparty.context import Context

log = logging.getLogger("watchparty.graphql.ws")

FORBIDDEN = 4403


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    expiry_task: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        claims = getattr(self.context, "claims", None)
        if self.connection_acknowledged and claims is not None and self.expiry_task is None:
            self.expiry_task = asyncio.create_task(self._close_when_expired(claims.expires_at))

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
