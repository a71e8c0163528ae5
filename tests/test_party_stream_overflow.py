"""How a stream ends when the server cannot go on: a subscriber that cannot keep up gets
STREAM_OVERFLOW with a cursor (memory stays bounded; resuming from the cursor loses nothing), and
a server shutting down ends its streams with STREAM_CLOSED."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support import GraphQLSocket, live_server, make_settings, running_app
from tests.test_party_stream_support import (
    PartyStream,
    StreamEnded,
    create_party,
    party_stream,
    rename,
    user,
)

# 300 copies of the (2,000 character) description per message: a few messages fill every buffer
# between the server and a client that stopped reading (the kernel's send buffer grows to MBs).
COPIES = 300
BULKY_EVENTS = (
    "subscription($partyId: ID!) { partyEvents(partyId: $partyId) { cursor event { __typename "
    "... on PartyUpdated { party { title } } } "
    + " ".join(
        f"d{n}: event {{ ... on PartyUpdated {{ party {{ description }} }} }}"
        for n in range(COPIES)
    )
    + " } }"
)


@asynccontextmanager
async def slow_socket(base_url: str) -> AsyncIterator[GraphQLSocket]:
    """A WebSocket that reads only when told to: a tiny kernel receive buffer, no compression,
    and the client library stops reading the socket once one message waits unread."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    host, port = base_url.removeprefix("http://").split(":")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    raw.connect_ex((host, int(port)))
    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    async with connect(
        url,
        sock=raw,
        subprotocols=[Subprotocol(GraphQLSocket.PROTOCOL)],
        max_queue=1,
        compression=None,  # what is sent is what fills the buffers
        max_size=None,
        proxy=None,
        open_timeout=10,
    ) as connection:
        yield GraphQLSocket(connection)


async def test_a_subscriber_that_falls_behind_gets_stream_overflow_and_resumes(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        realtime_queue_size=8,
        graphql_max_aliases=COPIES + 10,
        graphql_max_tokens=50_000,
        graphql_max_cost=50_000,
    )
    async with running_app(settings) as api, live_server(api.app) as base:
        host = await user(api, "Host")
        party_id = await create_party(api, host, visibility="PUBLIC")
        titles = [f"Title {n}" for n in range(40)]
        async with slow_socket(base) as slow:
            assert (await slow.init({"authorization": f"Bearer {host.token}"}))["type"] == (
                "connection_ack"
            )
            op_id = await slow.subscribe(BULKY_EVENTS, {"partyId": party_id})
            stream = PartyStream(slow, op_id)
            snapshot = await stream.next()
            assert snapshot["event"]["__typename"] == "PartySnapshot"
            # The client stops reading while forty changes happen.
            for title in titles:
                await rename(api, host, party_id, title, description="x" * 2000)
            received: list[dict[str, Any]] = []
            try:
                while True:
                    received.append(await stream.next())
            except StreamEnded as ended:
                messages = ended.messages
        updates = [item for item in received if item["cursor"] is not None]
        assert len(updates) < len(titles)  # it did fall behind
        assert messages[-1] == {"id": op_id, "type": "complete"}
        (error,) = messages[0]["payload"]["errors"]
        cursor = error["extensions"]["cursor"]
        assert error["extensions"] == {"code": "STREAM_OVERFLOW", "cursor": cursor}
        last_seen = updates[-1]["cursor"] if updates else snapshot["cursor"]
        assert cursor == last_seen
        # Resuming from that cursor delivers the rest, in order, nothing lost or repeated.
        async with party_stream(base, host, party_id, after=cursor) as resumed:
            first = await resumed.next()
            assert first["event"]["__typename"] == "PartySnapshot"
            assert first["resync"] is False
            rest = [
                await resumed.next_event("PresenceChanged")
                for _ in range(len(titles) - len(updates))
            ]
        seen = [item["event"]["party"]["title"] for item in updates + rest]
        assert seen == titles
        cursors = [int(item["cursor"]) for item in updates + rest]
        start = int(snapshot["cursor"])
        assert cursors == list(range(start + 1, start + 1 + len(titles)))


async def test_a_server_shutting_down_ends_streams_with_stream_closed(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path)
    async with running_app(settings) as api, live_server(api.app) as base:
        host = await user(api, "Host")
        party_id = await create_party(api, host)
        async with party_stream(base, host, party_id) as stream:
            snapshot = await stream.next()
            assert snapshot["event"]["__typename"] == "PartySnapshot"
            online = await stream.next()
            assert online["event"]["__typename"] == "PresenceChanged"
            await api.state.hub.close()  # the first step of the app's shutdown
            messages = await stream.ending()
        assert messages[-1] == {"id": stream.op_id, "type": "complete"}
        assert messages[0]["payload"]["errors"] == [
            {
                "message": "The server is shutting down; reconnect with your cursor.",
                "extensions": {"code": "STREAM_CLOSED"},
            }
        ]
