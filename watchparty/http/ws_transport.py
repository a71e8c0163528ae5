"""The WebSocket protocol `watchparty serve` runs: uvicorn's `websockets-sansio` implementation
with a bound on what a peer that stops reading its socket may cost.

uvicorn already holds the application's sends while the transport's write buffer is above its
high-water mark. What it lacks is an end: a peer that stops reading (a frozen tab, a lost NAT
mapping, a client that never reads) keeps a send waiting for ever, the kernel grows the socket's
send buffer to MBs, the keepalive's close frame queues behind the unread bytes, and
`transport.close()` waits for a buffer that never drains, so the connection, its buffers and its
tasks stay. Here:

- the connection's byte budget (`WS_MAX_BUFFERED_BYTES`) is the write buffer's high-water mark
  (the most this process holds unsent for the socket, plus the frame being written; past it
  sends wait) and the socket's kernel send buffer (`SO_SNDBUF`, which Linux doubles);
- a buffer that stays over the budget for `WS_SEND_TIMEOUT_SECONDS` (the peer read too little to
  bring it down to a quarter) aborts the connection: the transport is dropped with its buffer and
  the peer sees a reset. Every frame waits behind that buffer (`next`, `error`, a close), so no
  STREAM_OVERFLOW and no close handshake can reach such a peer;
- closing (the keepalive timeout, a close frame whose echo never comes, the application's end, a
  server shutdown) waits at most the send timeout for unsent bytes to leave, then aborts.

An abort is logged as a warning with its reason, the unsent bytes and what the application adds
(`gql.websocket` adds each operation's last cursor written). The client resumes with `after:` the
last cursor it read: only the client knows what it has read.

The application sets each connection's limits through the ASGI scope extension
`watchparty.send_bounds` (`send_bounds(scope)`); until then the defaults below apply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

EXTENSION = "watchparty.send_bounds"
DEFAULT_SEND_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024

log = logging.getLogger("watchparty.ws")


class SendBounds:
    """One connection's limits, set by the application (`configure`) once it knows its settings."""

    __slots__ = ("_protocol", "describe", "max_buffered", "send_timeout")

    def __init__(self, protocol: BoundedWebSocketProtocol) -> None:
        self._protocol = protocol
        self.send_timeout = DEFAULT_SEND_TIMEOUT_SECONDS
        self.max_buffered = DEFAULT_MAX_BUFFERED_BYTES
        self.describe: Callable[[], Mapping[str, Any]] | None = None

    def configure(
        self,
        *,
        send_timeout: float,
        max_buffered: int,
        describe: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """`describe` returns fields for the abort's log record (e.g. the last cursors)."""
        self.send_timeout = send_timeout
        self.max_buffered = max_buffered
        self.describe = describe
        self._protocol.apply_limits()

    def writable(self) -> bool:
        """Whether a frame sent now goes out without waiting: connected, and the write buffer
        under its high-water mark (uvicorn holds sends while it is over)."""
        protocol = self._protocol
        return not protocol.disconnected and protocol.writable.is_set()

    def write_text(self, text: str) -> bool:
        """Write a text frame now, from any task, without waiting; False when it cannot go out
        at once (not open, closing, or the write buffer is over its high-water mark), and then
        nothing was written. What `websocket.send` does in uvicorn, minus the ASGI round trip:
        the channel reader writes a shared frame to many sockets this way (`gql.frames`)."""
        protocol = self._protocol
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.handshake_complete
            or protocol.initial_response is not None
            or not protocol.writable.is_set()
        ):
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        try:
            protocol.conn.send_text(text.encode())
            transport.write(b"".join(protocol.conn.data_to_send()))
        except Exception:  # closed meanwhile (InvalidState, a closed handle): never the caller's
            log.debug("direct WebSocket write failed", exc_info=True)
            return False
        return True


def send_bounds(scope: Mapping[str, Any]) -> SendBounds | None:
    """The connection's `SendBounds`; None under a server without this protocol."""
    bounds = scope.get("extensions", {}).get(EXTENSION)
    return bounds if isinstance(bounds, SendBounds) else None


class _BoundedTransport(asyncio.Transport):
    """The connection's transport as uvicorn's protocol sees it: `close()` gives unsent bytes
    the send timeout to leave, then aborts (asyncio's `close()` waits for the peer for ever)."""

    def __init__(self, transport: asyncio.Transport, protocol: BoundedWebSocketProtocol) -> None:
        super().__init__()
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        self._transport.close()
        if self._transport.get_write_buffer_size() > 0:
            self._protocol.abort_later("close timeout")

    def abort(self) -> None:
        self._transport.abort()

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """`uvicorn --ws watchparty.http.ws_transport:BoundedWebSocketProtocol` (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bounds = SendBounds(self)
        self.aborted: str | None = None  # the reason, once aborted
        self._raw: asyncio.Transport | None = None
        self._stall_timer: asyncio.TimerHandle | None = None  # over the budget since
        self._drain_timer: asyncio.TimerHandle | None = None  # closing with bytes left since

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        super().connection_made(_BoundedTransport(self._raw, self))
        self.apply_limits()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for timer in (self._stall_timer, self._drain_timer):
            if timer is not None:
                timer.cancel()
        self._stall_timer = self._drain_timer = None

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only set for an accepted upgrade
        if scope is not None:
            scope["extensions"][EXTENSION] = self.bounds

    def apply_limits(self) -> None:
        """The budget is the write buffer's high-water mark, and the kernel's send buffer
        (which Linux otherwise grows to MBs for a peer that does not read; it doubles this)."""
        if self._raw is None:
            return
        sock = self._raw.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.bounds.max_buffered)
        self._raw.set_write_buffer_limits(high=self.bounds.max_buffered)

    def pause_writing(self) -> None:
        """Over the budget: sends wait now; if the peer reads nothing for the send timeout (the
        buffer stays over the low-water mark), the connection is aborted."""
        super().pause_writing()
        if self._stall_timer is None and not self.disconnected:
            timeout = self.bounds.send_timeout
            self._stall_timer = self.loop.call_later(timeout, self.abort, "send timeout")

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def abort_later(self, reason: str) -> None:
        """Closing with bytes unsent: abort unless the connection is gone by the send timeout."""
        if self._drain_timer is None and not self.disconnected:
            timeout = self.bounds.send_timeout
            self._drain_timer = self.loop.call_later(timeout, self.abort, reason)

    def abort(self, reason: str) -> None:
        """Drop the connection and its unsent bytes now; log why."""
        if self.aborted is not None or self._raw is None or self.disconnected:
            return
        self.aborted = reason
        extra: dict[str, Any] = {
            "reason": reason,
            "unsent_bytes": self._raw.get_write_buffer_size(),
            "client": f"{self.client[0]}:{self.client[1]}" if self.client else None,
        }
        if self.bounds.describe is not None:
            try:
                extra.update(self.bounds.describe())
            except Exception:  # the log line must not stop the abort
                log.debug("describe failed", exc_info=True)
        log.warning("aborted a WebSocket whose peer stopped reading", extra=extra)
        self._raw.abort()
