"""Shared frames (`gql.frames`): subscribers with the same selection get the bytes encoded once.

The first subscriber of a process to reach an event goes through Strawberry; the others write
the same payload straight to their sockets. What each client receives is exactly what the
normal path produces, in the same order, and selections that depend on the viewer never take
the shortcut.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from tests.support import Api, graphql_socket, live_server
from tests.test_party_stream_support import PartyStream, create_party, join, rename, user
from watchparty.gql import frames

SHARED = """
subscription Shared($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    event { __typename ... on PartyUpdated { party { title memberCount } } }
  }
}
"""

PER_VIEWER = """
subscription Mine($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    event { __typename ... on PartyUpdated { party { title myMembership { role } } } }
  }
}
"""

SUBSCRIBERS = 5
EVENTS = 3


async def _open(exits: AsyncExitStack, base: str, token: str, query: str, party: str) -> Any:
    socket = await exits.enter_async_context(graphql_socket(base))
    assert (await socket.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
    stream = PartyStream(socket, await socket.subscribe(query, {"partyId": party}))
    assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
    return stream


async def test_one_encoding_per_event_and_the_same_bytes_for_everybody(any_api: Api) -> None:
    host = await user(any_api, "Host")
    member = await user(any_api, "Member")
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    await join(any_api, member, party_id)
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        shared = [
            await _open(exits, base, who.token, SHARED, party_id)
            for who in [host, member] * (SUBSCRIBERS // 2) + [host]
        ]
        mine = await _open(exits, base, member.token, PER_VIEWER, party_id)
        before = (frames.stats.claimed, frames.stats.direct, frames.stats.encoded)
        cursors: list[str] = []
        for n in range(EVENTS):
            await rename(any_api, host, party_id, f"Title {n}")
            received = [await stream.next_event("PresenceChanged") for stream in shared]
            expected = {
                "__typename": "PartyUpdated",
                "party": {"title": f"Title {n}", "memberCount": 2},
            }
            assert [item["event"] for item in received] == [expected] * SUBSCRIBERS
            assert len({item["cursor"] for item in received}) == 1
            cursors.append(received[0]["cursor"])
            own = await mine.next_event("PresenceChanged")
            assert own == {
                "cursor": received[0]["cursor"],
                "event": {
                    "__typename": "PartyUpdated",
                    "party": {"title": f"Title {n}", "myMembership": {"role": "MEMBER"}},
                },
            }
        after = (frames.stats.claimed, frames.stats.direct, frames.stats.encoded)
    assert cursors == sorted(cursors, key=int) and len(set(cursors)) == EVENTS
    # One claim and one encoding per event; everybody else got the encoded bytes directly.
    assert [b - a for a, b in zip(before, after, strict=True)] == [
        EVENTS,
        EVENTS * (SUBSCRIBERS - 1),
        EVENTS,
    ]


async def test_a_subscriber_that_leaves_holding_the_claim_does_not_stall_the_others(
    any_api: Api,
) -> None:
    """The claimant closes its socket right after the event was published: the others still
    receive it (from the claimant's encoding or through the normal way) and the next one."""
    host = await user(any_api, "Host")
    party_id = await create_party(any_api, host)
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        first = await _open(exits, base, host.token, SHARED, party_id)
        others = [await _open(exits, base, host.token, SHARED, party_id) for _ in range(3)]
        await rename(any_api, host, party_id, "Going")
        await first.socket.connection.close()
        for n, title in enumerate(("Going", "Gone")):
            if n:
                await rename(any_api, host, party_id, title)
            for stream in others:
                item = await stream.next_event("PresenceChanged")
                assert item["event"]["party"]["title"] == title
