"""Fan-out cost: an event is read, rendered and executed once per process, not once per
subscriber.

N subscribers receive M events; the SQL statements the server runs meanwhile (the mutations' own,
the stream's, and those of loader-backed fields such as `party.memberCount`) are the same for
N = 1 and N = 12, and each event is rendered once.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.support import (
    Api,
    foreground,
    graphql_socket,
    live_server,
    make_settings,
    running_app,
)
from tests.test_party_stream_support import PartyStream, create_party, rename, seek, user
from watchparty.party_stream.render import get_event_cache

EVENTS = 6

# Loader-backed fields (memberCount, members, onlineCount) read the database when executed.
SELECTION = """
subscription Fanout($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor occurredAt
    event {
      __typename
      ... on PlaybackChanged { playback { state revision positionSeconds updatedBy { id } } }
      ... on PartyUpdated {
        party {
          title memberCount onlineCount
          members(first: 5) { totalCount edges { node { role user { displayName } } } }
        }
      }
    }
  }
}
"""


async def statements_while_delivering(
    api: Api, base: str, subscribers: int
) -> tuple[list[str], int]:
    """(SQL statements, renders) while `subscribers` streams each receive EVENTS events."""
    host = await user(api, "Host")
    party_id = await create_party(api, host)
    cache = get_event_cache(api.state)
    async with AsyncExitStack() as exits:
        streams: list[PartyStream] = []
        for _ in range(subscribers):
            socket = await exits.enter_async_context(graphql_socket(base))
            assert (await socket.init({"authorization": f"Bearer {host.token}"}))["type"] == (
                "connection_ack"
            )
            stream = PartyStream(socket, await socket.subscribe(SELECTION, {"partyId": party_id}))
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
            streams.append(stream)
        # The arrivals' presence is announced once, a batch window later (PresenceChanged):
        # let it go out before counting, so only the events below are measured.
        await asyncio.sleep(api.settings.presence_batch_seconds + 0.5)
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if foreground(statement):
                statements.append(statement)

        renders = cache.renders
        engine = api.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            for n in range(EVENTS):
                if n % 2:
                    await rename(api, host, party_id, f"Title {n}")
                    expected: dict[str, Any] = {
                        "__typename": "PartyUpdated",
                        "party": {
                            "title": f"Title {n}",
                            "memberCount": 1,
                            "onlineCount": 1,
                            "members": {
                                "totalCount": 1,
                                "edges": [
                                    {"node": {"role": "HOST", "user": {"displayName": "Host"}}}
                                ],
                            },
                        },
                    }
                else:
                    revision = await seek(api, host, party_id, float(n))
                    expected = {
                        "__typename": "PlaybackChanged",
                        "playback": {
                            "state": "PAUSED",
                            "revision": revision,
                            "positionSeconds": float(n),
                            "updatedBy": {"id": host.id},
                        },
                    }
                for stream in streams:
                    item = await stream.next_event("PresenceChanged")
                    assert item["event"] == expected
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return statements, cache.renders - renders


@pytest.mark.parametrize("mode", ["postgres", "embedded"])
async def test_statements_do_not_grow_with_subscribers(
    mode: str, pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        mode,
        database_url=pg_url,
        tmp=tmp_path,
        realtime_poll_seconds=0,  # no safety poll: every statement below is caused by an event
    )
    async with running_app(settings) as api, live_server(api.app) as base:
        one, one_renders = await statements_while_delivering(api, base, 1)
        many, many_renders = await statements_while_delivering(api, base, 12)
    assert one_renders == many_renders == EVENTS
    assert len(many) == len(one), (one, many)  # the statements themselves when they differ


PER_VIEWER = """
subscription PerViewer($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    event { __typename ... on PartyUpdated { party { title myMembership { role } } } }
  }
}
"""


async def test_fields_that_depend_on_the_viewer_are_never_shared(any_api: Api) -> None:
    """The same document from two viewers: `myMembership` is each one's own."""
    host = await user(any_api, "Host")
    viewer = await user(any_api, "Viewer")  # signed in, not a member of this PUBLIC party
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        streams = {}
        for name, who in (("host", host), ("viewer", viewer)):
            socket = await exits.enter_async_context(graphql_socket(base))
            assert (await socket.init({"authorization": f"Bearer {who.token}"}))["type"] == (
                "connection_ack"
            )
            stream = PartyStream(socket, await socket.subscribe(PER_VIEWER, {"partyId": party_id}))
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
            streams[name] = stream
        await rename(any_api, host, party_id, "Renamed")
        seen = {name: await s.next_event("PresenceChanged") for name, s in streams.items()}
    assert seen["host"]["event"]["party"] == {"title": "Renamed", "myMembership": {"role": "HOST"}}
    assert seen["viewer"]["event"]["party"] == {"title": "Renamed", "myMembership": None}
