"""Shared frames (`gql.frames`): subscribers with the same selection get the bytes encoded once.

The first subscriber of a process to reach an event goes through Strawberry; the others write
the same payload straight to their sockets. What each client receives is exactly what the
normal path produces, in the same order, and selections that depend on the viewer never take
the shortcut.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from tests.chat_ops import send as send_message
from tests.support import Api, graphql_socket, live_server
from tests.test_party_stream_support import (
    PartyStream,
    create_party,
    join,
    rename,
    seek,
    user,
)
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

# What a frontend sends (README "Following a party"): the snapshot's fragment reads `Party`
# through `PartySnapshot.party`, which is per viewer; it never applies to a PlaybackChanged.
REALISTIC = """
subscription Follow($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor occurredAt resync
    event { __typename ... on PartySnapshot { party { id playback { revision } } }
            ... on PlaybackChanged { playback { state positionSeconds anchorServerTimeMs rate
                                                revision previous { state positionSeconds
                                                anchorServerTimeMs rate } } } }
  }
}
"""

# The same, plus a viewer-dependent field in the PartyUpdated fragment: shared for a
# PlaybackChanged, executed per subscriber for a PartyUpdated.
REALISTIC_MINE = """
subscription FollowMine($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor occurredAt resync
    event { __typename ... on PartySnapshot { party { id playback { revision } } }
            ...Changed
            ... on PartyUpdated { party { title myMembership { role } } } }
  }
}
fragment Changed on PlaybackChanged { playback { positionSeconds revision } }
"""

SUBSCRIBERS = 5
EVENTS = 3


def _stats() -> tuple[int, int, int]:
    """Claims, frames written directly (by the subscriber's task or the channel's reader),
    encodings."""
    stats = frames.stats
    return (stats.claimed, stats.direct + stats.reader, stats.encoded)


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
        before = _stats()
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
        after = _stats()
    assert cursors == sorted(cursors, key=int) and len(set(cursors)) == EVENTS
    # One claim and one encoding per event; everybody else got the encoded bytes directly.
    # A presence announcement may land meanwhile (coalesced, timing-dependent): it is shared by
    # both selections (PER_VIEWER's fragment does not apply to it): two claims and encodings,
    # and SUBSCRIBERS - 1 direct frames each.
    grown = [b - a for a, b in zip(before, after, strict=True)]
    presence = (grown[0] - EVENTS) // 2
    assert presence >= 0
    assert grown == [
        EVENTS + 2 * presence,
        (EVENTS + presence) * (SUBSCRIBERS - 1),
        EVENTS + 2 * presence,
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


async def test_a_realistic_selection_is_shared_for_the_events_its_fragments_allow(
    any_api: Api,
) -> None:
    """Fragments on other union members do not count: a PlaybackChanged is encoded once per
    selection; a viewer-dependent field in the delivered type's fragment still runs per
    subscriber. (Presence announcements may add shared frames of their own meanwhile: the
    counts are lower bounds, the per-viewer answers are exact.)"""
    host = await user(any_api, "Host")
    member = await user(any_api, "Member")
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    await join(any_api, member, party_id)
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        realistic = [
            await _open(exits, base, who.token, REALISTIC, party_id)
            for who in [host, member] * (SUBSCRIBERS // 2) + [host]
        ]
        mine = [
            await _open(exits, base, who.token, REALISTIC_MINE, party_id) for who in (host, member)
        ]
        before = _stats()
        written_by_reader = frames.stats.reader
        cursors: list[str] = []
        for n in range(EVENTS):
            revision = await seek(any_api, host, party_id, 10.0 + n)
            received = [await stream.next_event("PresenceChanged") for stream in realistic]
            first = received[0]
            assert received == [first] * SUBSCRIBERS
            assert first["resync"] is False
            assert first["event"]["__typename"] == "PlaybackChanged"
            playback = first["event"]["playback"]
            assert (playback["positionSeconds"], playback["revision"]) == (10.0 + n, revision)
            assert playback["state"] == "PAUSED" and playback["previous"] is None
            for stream in mine:
                assert await stream.next_event("PresenceChanged") == {
                    "cursor": first["cursor"],
                    "occurredAt": first["occurredAt"],
                    "resync": False,
                    "event": {
                        "__typename": "PlaybackChanged",
                        "playback": {"positionSeconds": 10.0 + n, "revision": revision},
                    },
                }
            cursors.append(first["cursor"])
        assert cursors == sorted(cursors, key=int) and len(set(cursors)) == EVENTS
        middle = _stats()
        # Per seek and selection: (at least) one claim and encoding, the bytes written directly
        # to every other subscriber of that selection.
        grown = [b - a for a, b in zip(before, middle, strict=True)]
        assert grown[0] >= EVENTS * 2 and grown[2] >= EVENTS * 2
        assert grown[1] >= EVENTS * (SUBSCRIBERS - 1 + len(mine) - 1)
        # Each subscriber waited for the next seek: the channel's reader wrote the frames.
        assert frames.stats.reader > written_by_reader
        # A PartyUpdated: REALISTIC (only `__typename` applies) is shared; REALISTIC_MINE reads
        # the viewer's membership, so each subscriber gets its own answer.
        await rename(any_api, host, party_id, "Renamed")
        received = [await stream.next_event("PresenceChanged") for stream in realistic]
        assert [item["event"] for item in received] == [
            {"__typename": "PartyUpdated"}
        ] * SUBSCRIBERS
        roles = [(await stream.next_event("PresenceChanged"))["event"] for stream in mine]
        assert roles == [
            {
                "__typename": "PartyUpdated",
                "party": {"title": "Renamed", "myMembership": {"role": role}},
            }
            for role in ("HOST", "MEMBER")
        ]
        grown = [b - a for a, b in zip(middle, _stats(), strict=True)]
        assert grown[0] >= 1 and grown[1] >= SUBSCRIBERS - 1


# `reactedByMe` depends on the viewer: every ChatMessageAdded is executed per subscriber.
CHAT_MINE = """
subscription ChatMine($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    event { __typename ... on ChatMessageAdded { message { body reactions { reactedByMe } } } }
  }
}
"""


async def test_a_viewer_dependent_selection_never_gets_a_frame_from_the_reader(
    any_api: Api,
) -> None:
    host = await user(any_api, "Host")
    member = await user(any_api, "Member")
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    await join(any_api, member, party_id)
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        streams = [
            await _open(exits, base, who.token, CHAT_MINE, party_id) for who in (host, member, host)
        ]
        before = frames.stats.reader
        for n in range(EVENTS):
            await send_message(any_api, host.token, party_id, f"Hello {n}")
            for stream in streams:
                item = await stream.next_event("PresenceChanged")
                assert item["event"] == {
                    "__typename": "ChatMessageAdded",
                    "message": {"body": f"Hello {n}", "reactions": []},
                }
        assert frames.stats.reader == before  # (presence, ephemeral, never goes that way)


async def test_subscribers_behind_and_caught_up_get_every_event_in_order(any_api: Api) -> None:
    """Seeks published at once: some subscribers are still sending one when the next comes
    (their task takes it), others wait (the reader writes to them): every subscriber gets
    every event once, in order, with the same bytes."""
    host = await user(any_api, "Host")
    member = await user(any_api, "Member")
    party_id = await create_party(any_api, host, visibility="PUBLIC")
    await join(any_api, member, party_id)
    burst = 12
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        streams = [
            await _open(exits, base, who.token, REALISTIC, party_id)
            for who in [host, member] * (SUBSCRIBERS // 2) + [host]
        ]
        for n in range(burst):  # without reading in between
            await seek(any_api, host, party_id, float(n))
        received = []
        for stream in streams:
            items = [await stream.next_event("PresenceChanged") for _ in range(burst)]
            received.append(items)
        first = received[0]
        assert [item["event"]["playback"]["positionSeconds"] for item in first] == [
            float(n) for n in range(burst)
        ]
        cursors = [int(item["cursor"]) for item in first]
        assert cursors == sorted(cursors) and len(set(cursors)) == burst
        assert received == [first] * SUBSCRIBERS
