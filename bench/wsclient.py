"""A light graphql-transport-ws subscriber swarm: many connections in one asyncio process.

Run by `fanout.py` as a child process (several of them, so the clients are not the bottleneck):

    python bench/wsclient.py  < config JSON on the first stdin line >

Config: {"url": "ws://127.0.0.1:PORT/graphql", "inits": [connection_init payload, ...] (one per
connection), "query": ..., "variables": {...}, "marker": "bench#", "concurrency": 50}.

Each connection does the WebSocket handshake itself, sends `connection_init`, waits for the ack,
subscribes with id "1" and counts as ready on its first `next` (the snapshot). From then on it
only scans each text frame for `<marker><digits><end>` (`end`: "#" unless given) and records the
arrival time (`time.monotonic()`, which is system-wide on Linux, so the coordinator's publish
times compare).
No JSON parsing on the hot path and no task per message: a bare `asyncio.Protocol` with a frame
parser, about 10x cheaper per message than a general-purpose client.

Protocol on stdout (one JSON object per line): {"ready": n, "failed": m} once connected; then
{"done": k} as soon as every live connection of this process has event k (the coordinator's
saturation window uses it); {"report": ...} when "report" is written to stdin ("reset" clears
the counters, "quit" exits). The report's "orders" counts connections per distinct sequence of
marked events received since the last reset: one key when every subscriber got the same events
in the same order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from typing import Any, cast
from urllib.parse import urlsplit

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.3: clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    # XOR via big integers: fine for the few control and init messages a subscriber sends.
    repeated = (mask * (length // 4 + 1))[:length]
    key = int.from_bytes(repeated, "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big") if length else b""
    return header + mask + masked


def receive(protocol: Any, data: bytes) -> None:
    """A client protocol's `data_received`: the HTTP upgrade answer, then WebSocket frames
    (text to `protocol._on_text`, pings answered, a close ends it). Shared by the swarm's
    subscribers and `mixclient.py`'s members."""
    buffer = protocol.buffer
    buffer += data
    if protocol.phase == "handshake":
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        status = bytes(buffer[: buffer.find(b"\r\n")])
        del buffer[: head_end + 4]
        if b" 101 " not in status:
            protocol._fail(f"handshake refused: {status!r}")
            return
        protocol.phase = "ack"
        protocol._send(OP_TEXT, protocol.init)
    now = time.monotonic()
    while True:
        size = len(buffer)
        if size < 2:
            return
        first, second = buffer[0], buffer[1]
        length = second & 0x7F
        offset = 2
        if length == 126:
            if size < 4:
                return
            length = (buffer[2] << 8) | buffer[3]
            offset = 4
        elif length == 127:
            if size < 10:
                return
            length = int.from_bytes(buffer[2:10], "big")
            offset = 10
        if size < offset + length:
            return
        payload = bytes(buffer[offset : offset + length])
        del buffer[: offset + length]
        opcode = first & 0x0F
        if opcode == OP_TEXT:
            protocol._on_text(payload, now)
        elif opcode == OP_PING:
            protocol._send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            protocol._send(OP_CLOSE, payload[:2])
            protocol._end(ConnectionError(f"closed by the server: {payload!r}"))
            if protocol.transport is not None:
                protocol.transport.close()
            return


class Stats:
    """Per-process counters shared by every connection."""

    def __init__(self, marker: bytes, out: Any, end: bytes = b"#") -> None:
        self.marker = marker
        self.end = end
        self.out = out
        self.events: dict[int, list[float]] = {}  # k -> [count, first, last]
        self.live = 0
        self.ended = 0  # streams that ended with `error`/`complete` or a close
        self.frames = 0
        self.reported_done: set[int] = set()
        self.sample = ""  # one marked frame, so the raw floor can send the same bytes
        self.subscribers: list[Subscriber] = []  # live ones, for the order check

    def orders(self) -> dict[str, int]:
        """Connections per distinct sequence of events received since the last reset: one key
        when every connection got the same events in the same order."""
        counts: dict[str, int] = {}
        for subscriber in self.subscribers:
            if subscriber.phase == "live":
                key = f"{subscriber.sequence:016x}:{subscriber.received}"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def reset(self) -> None:
        self.events.clear()
        self.frames = 0
        for subscriber in self.subscribers:
            subscriber.sequence = subscriber.received = 0
        self.reported_done.clear()

    def record(self, data: bytes, now: float) -> int:
        """The event's number k (or -1 for a frame without a marker)."""
        self.frames += 1
        start = data.find(self.marker)
        if start < 0:
            return -1
        start += len(self.marker)
        end = data.find(self.end, start)
        if end < 0:
            return -1
        try:
            k = int(data[start:end])
        except ValueError:
            return -1
        entry = self.events.get(k)
        if entry is None:
            self.events[k] = entry = [0, now, now]
            if not self.sample:
                self.sample = data.decode()
        entry[0] += 1
        entry[2] = now
        if entry[0] >= self.live and k not in self.reported_done:
            self.reported_done.add(k)
            self.out.write(f'{{"done": {k}}}\n')
            self.out.flush()
        return k


class Subscriber(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, init: bytes, subscribe: bytes) -> None:
        self.stats = stats
        self.request = request
        self.init = init
        self.subscribe = subscribe
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.phase = "handshake"  # -> "ack" -> "snapshot" -> "live" -> "ended"
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A rolling hash of the marked events received, in arrival order (the order check).
        self.sequence = 0
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        transport = self.transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(ConnectionError(f"connection lost in phase {self.phase}"))

    def _end(self, error: Exception) -> None:
        if self.phase == "live":
            self.stats.live -= 1
            self.stats.ended += 1
        self.phase = "ended"
        if not self.ready.done():
            self.ready.set_exception(error)

    def data_received(self, data: bytes) -> None:
        receive(self, data)

    def _on_text(self, payload: bytes, now: float) -> None:
        if self.phase == "live":
            if payload.startswith(b'{"id":"1","type":"next"') or b'"next"' in payload[:40]:
                k = self.stats.record(payload, now)
                if k >= 0:
                    self.sequence = (self.sequence * 1_000_003 + k + 1) & 0xFFFFFFFFFFFFFFFF
                    self.received += 1
                return
            message = json.loads(payload)
            if message.get("type") in ("error", "complete"):
                self._end(RuntimeError(f"stream ended: {payload[:300]!r}"))
            elif message.get("type") == "ping":
                self._send(OP_TEXT, b'{"type":"pong"}')
            return
        message = json.loads(payload)
        kind = message.get("type")
        if kind == "ping":
            self._send(OP_TEXT, b'{"type":"pong"}')
        elif self.phase == "ack" and kind == "connection_ack":
            self.phase = "snapshot"
            self._send(OP_TEXT, self.subscribe)
        elif self.phase == "snapshot" and kind == "next":
            if "errors" in message.get("payload", {}):
                self._fail(f"subscription refused: {payload[:300]!r}")
                return
            self.phase = "live"
            self.stats.live += 1
            self.stats.subscribers.append(self)
            if not self.ready.done():
                self.ready.set_result(None)
        else:
            self._fail(f"unexpected message in phase {self.phase}: {payload[:300]!r}")

    def _fail(self, reason: str) -> None:
        self._end(RuntimeError(reason))
        if self.transport is not None:
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))


def handshake_request(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
        "\r\n"
    )
    return host, port, request.encode()


async def connect_all(config: dict[str, Any], stats: Stats) -> tuple[list[Subscriber], int]:
    loop = asyncio.get_running_loop()
    host, port, request = handshake_request(config["url"])
    subscribe = json.dumps(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": config["query"], "variables": config.get("variables") or {}},
        }
    ).encode()
    gate = asyncio.Semaphore(int(config.get("concurrency", 50)))
    subscribers: list[Subscriber] = []
    failures: list[str] = []

    async def one(init: dict[str, Any]) -> None:
        body = json.dumps({"type": "connection_init", "payload": init}).encode()
        async with gate:
            try:
                _, protocol = await loop.create_connection(
                    lambda: Subscriber(stats, request, body, subscribe), host, port
                )
                await asyncio.wait_for(protocol.ready, 60)
                subscribers.append(protocol)
            except Exception as exc:
                failures.append(str(exc)[:300])

    await asyncio.gather(*(one(init) for init in config["inits"]))
    if failures:
        print(f"wsclient: {len(failures)} failed, first: {failures[0]}", file=sys.stderr)
    return subscribers, len(failures)


async def main() -> None:
    loop = asyncio.get_running_loop()
    config = json.loads(sys.stdin.readline())
    stats = Stats(
        config.get("marker", "bench#").encode(), sys.stdout, config.get("end", "#").encode()
    )
    subscribers, failed = await connect_all(config, stats)
    print(json.dumps({"ready": len(subscribers), "failed": failed}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line in ("", "quit"):
            break
        if line == "reset":
            stats.reset()
            print(json.dumps({"reset": True}), flush=True)
        elif line == "report":
            report = {
                "events": stats.events,
                "live": stats.live,
                "ended": stats.ended,
                "frames": stats.frames,
                "sample": stats.sample,
                "orders": stats.orders(),
            }
            print(json.dumps({"report": report}), flush=True)
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
