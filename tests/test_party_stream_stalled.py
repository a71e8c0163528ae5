"""A subscriber that stops reading its socket: the server bounds what it holds for it, aborts the
connection once a send waited `WS_SEND_TIMEOUT_SECONDS`, the others miss nothing, and the client
resumes from the last cursor it read with no gap."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from tests.chat_ops import send
from tests.support import GraphQLSocket, graphql_socket, live_server, make_settings, running_app
from tests.test_party_stream_support import PartyStream, User, create_party, user

ALIASES = 60  # the stalled subscriber asks for each body 61 times: ~120 KB per event
MESSAGES = 40  # ~5 MB for it in all: more than every buffer on the way can hold
READ = 3  # events it reads before it stalls
HEALTHY_EVENTS = """
subscription($partyId: ID!, $after: String) {
  partyEvents(partyId: $partyId, after: $after) {
    cursor resync event { __typename ... on ChatMessageAdded { message { body } } }
  }
}
"""
STALLED_EVENTS = (
    "subscription($partyId: ID!) { partyEvents(partyId: $partyId) { cursor event { __typename "
    "... on ChatMessageAdded { message { body } } } "
    + " ".join(
        f"b{n}: event {{ ... on ChatMessageAdded {{ message {{ body }} }} }}"
        for n in range(ALIASES)
    )
    + " } }"
)


class Closed(Exception):
    pass


class RawSubscriber:
    """graphql-transport-ws on a bare socket with a 4 KB receive buffer, read only when asked:
    between reads nothing drains the socket (no pong either)."""

    def __init__(self, sock: socket.socket, url: str) -> None:
        self.sock = sock
        self.protocol = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol(GraphQLSocket.PROTOCOL)], max_size=None
        )
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, base_url: str) -> RawSubscriber:
        host, port = base_url.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        client = cls(sock, base_url.replace("http://", "ws://", 1) + "/graphql")
        client.protocol.send_request(client.protocol.connect())
        await client.flush()
        while client.protocol.state is not State.OPEN:
            await client.read()
        return client

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        await self.flush()

    async def receive(self) -> dict[str, Any]:
        """The next message; `Closed` once the server has closed or reset the connection."""
        while not self.messages:
            await self.read()
        return self.messages.pop(0)

    async def read(self) -> None:
        try:
            data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        except ConnectionResetError:
            raise Closed("reset") from None
        if not data:
            raise Closed("end of stream")
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event
            elif isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                self.messages.append(json.loads(bytes(event.data)))
            elif isinstance(event, Frame) and event.opcode == Opcode.CLOSE:
                raise Closed("close frame")

    def close(self) -> None:
        self.sock.close()


async def chat_stream(socket: GraphQLSocket, host: User, party_id: str, after: str | None) -> Any:
    ack = await socket.init({"authorization": f"Bearer {host.token}"})
    assert ack["type"] == "connection_ack", ack
    op_id = await socket.subscribe(HEALTHY_EVENTS, {"partyId": party_id, "after": after})
    return PartyStream(socket, op_id)


async def chat_items(stream: PartyStream, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while len(items) < count:
        item = await stream.next()
        if item["event"]["__typename"] == "ChatMessageAdded":
            items.append(item)
    return items


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def aborted(records: Records) -> None:
    while not any(r.getMessage().startswith("aborted a WebSocket") for r in records.records):
        await asyncio.sleep(0.05)


async def test_a_stalled_subscriber_is_aborted_and_resumes_from_its_cursor(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        ws_send_timeout_seconds=1.0,
        ws_max_buffered_bytes=65536,
        rate_limit_chat="100000/10",
        graphql_max_aliases=ALIASES + 10,
        graphql_max_tokens=50_000,
        graphql_max_cost=50_000,
    )
    aborts = Records()
    logging.getLogger("watchparty.ws").addHandler(aborts)
    try:
        async with running_app(settings) as api, live_server(api.app) as base:
            host = await user(api, "Host")
            party_id = await create_party(api, host, visibility="PUBLIC")
            stalled = await RawSubscriber.connect(base)
            try:
                await stalled.send(
                    {
                        "type": "connection_init",
                        "payload": {"authorization": f"Bearer {host.token}"},
                    }
                )
                assert (await stalled.receive())["type"] == "connection_ack"
                await stalled.send(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": STALLED_EVENTS, "variables": {"partyId": party_id}},
                    }
                )
                snapshot = await stalled.receive()
                assert snapshot["payload"]["data"]["partyEvents"]["event"] == {
                    "__typename": "PartySnapshot"
                }
                start = int(snapshot["payload"]["data"]["partyEvents"]["cursor"])
                async with graphql_socket(base) as healthy_socket:
                    healthy = await chat_stream(healthy_socket, host, party_id, None)
                    assert (await healthy.next())["event"]["__typename"] == "PartySnapshot"
                    bodies = [f"{n:02d}" + "x" * 1998 for n in range(MESSAGES)]
                    # It reads the first few events, then nothing more while the host chats.
                    for body in bodies[:READ]:
                        await send(api, host.token, party_id, body)
                    read_first: list[dict[str, Any]] = []
                    while len(read_first) < READ:
                        item = (await stalled.receive())["payload"]["data"]["partyEvents"]
                        if item["cursor"] is not None:
                            read_first.append(item)
                    assert [item["b0"]["message"]["body"] for item in read_first] == bodies[:READ]
                    for body in bodies[READ:]:
                        await send(api, host.token, party_id, body)
                    delivered = await chat_items(healthy, MESSAGES)
                # The server gives up on it once its buffer stayed over the budget for the send
                # timeout: the socket ends with a reset or an end of stream, not a close frame
                # (which could not get through). A generous deadline: never, without the bound.
                last_read = read_first[-1]["cursor"]
                # Stay stalled until the server gives up (reading earlier would drain the buffer
                # and un-stall the socket); a generous deadline: never, without the bound.
                await asyncio.wait_for(aborted(aborts), 30)

                async def read_to_the_end() -> None:
                    nonlocal last_read
                    while True:
                        message = await stalled.receive()
                        assert message["type"] == "next", message
                        cursor = message["payload"]["data"]["partyEvents"]["cursor"]
                        last_read = cursor or last_read  # None: presence, never replayed

                try:
                    await asyncio.wait_for(read_to_the_end(), 30)
                except Closed as closed:
                    assert str(closed) in ("reset", "end of stream")
            finally:
                stalled.close()
            # Every event reached the healthy subscriber, in order.
            cursors = [int(item["cursor"]) for item in delivered]
            assert cursors == list(range(start + 1, start + 1 + MESSAGES))
            assert [item["event"]["message"]["body"] for item in delivered] == bodies
            read = int(last_read) - start
            assert READ <= read < MESSAGES  # it did stall
            # Resuming from the last cursor it read delivers the rest, nothing lost or repeated.
            async with graphql_socket(base) as socket_:
                resumed = await chat_stream(socket_, host, party_id, last_read)
                first = await resumed.next()
                assert (first["event"]["__typename"], first["resync"]) == ("PartySnapshot", False)
                rest = await chat_items(resumed, MESSAGES - read)
            assert [item["event"]["message"]["body"] for item in rest] == bodies[read:]
            assert [int(item["cursor"]) for item in rest] == cursors[read:]
    finally:
        logging.getLogger("watchparty.ws").removeHandler(aborts)
    (abort,) = [r for r in aborts.records if r.getMessage().startswith("aborted a WebSocket")]
    assert abort.reason == "send timeout"  # type: ignore[attr-defined]
    written = int(abort.cursors["1"])  # type: ignore[attr-defined]
    assert int(last_read) <= written <= start + MESSAGES
    assert abort.unsent_bytes > 0  # type: ignore[attr-defined]
