"""Concurrent playback controls on two `watchparty serve` processes (PostgreSQL + Redis).

A control without `expectedRevision` never conflicts: it lands on whatever revision is current,
each one gets its own revision, and every stream hears them in one order with no gaps. Only a
control that names a revision may be refused, and then with the real current one.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from tests.redis_server import RedisServer
from tests.support import Api
from tests.test_multiprocess_party import open_streams, stored_events, two_processes
from tests.test_party_stream_support import create_party, join, party_field, user

CONTROLS = 40

SEEK = """mutation($input: SeekInput!) { seek(input: $input) { __typename
    ... on PlaybackPayload { playback { revision positionSeconds } }
    ... on RevisionConflict { message current { revision positionSeconds } } } }"""


async def test_unguarded_controls_all_land_in_one_order(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(a, "Host")
        cohost = await user(b, "Cohost")
        party_id = await create_party(a, host, visibility="PUBLIC", controlPolicy="EVERYONE")
        await join(b, cohost, party_id)
        streams = await open_streams(ex, [(a, host), (b, cohost)], party_id)
        playback = await party_field(a, host, party_id, "playback { revision }")
        initial: int = playback["playback"]["revision"]

        sides = ((a, host), (b, cohost))
        results = await asyncio.gather(
            *(
                sides[n % 2][0].gql(
                    SEEK,
                    {"input": {"partyId": party_id, "positionSeconds": float(n + 1)}},
                    token=sides[n % 2][1].token,
                )
                for n in range(CONTROLS)
            )
        )
        answers = [r.data["seek"] for r in results]
        assert [answer["__typename"] for answer in answers] == ["PlaybackPayload"] * CONTROLS
        applied = {a["playback"]["revision"]: a["playback"]["positionSeconds"] for a in answers}
        expected = list(range(initial + 1, initial + CONTROLS + 1))
        assert sorted(applied) == expected  # each control has its own revision
        final = await party_field(a, host, party_id, "playback { revision positionSeconds }")
        # Last writer wins: the party shows the control that got the last revision.
        assert final["playback"] == {
            "revision": initial + CONTROLS,
            "positionSeconds": applied[initial + CONTROLS],
        }
        for stream in streams:
            events = await stored_events(stream, CONTROLS)
            assert [(kind, detail) for _, kind, detail in events] == [
                ("PlaybackChanged", revision) for revision in expected
            ]

        stale = await a.gql(
            SEEK,
            {"input": {"partyId": party_id, "positionSeconds": 5.0, "expectedRevision": initial}},
            token=host.token,
        )
    conflict = stale.data["seek"]
    assert conflict["__typename"] == "RevisionConflict"
    assert conflict["current"] == final["playback"]
    assert conflict["message"] == (
        f"Playback changed meanwhile (now at revision {initial + CONTROLS}, expected {initial})."
    )


async def test_unguarded_controls_all_land_on_sqlite(api_embedded: Api) -> None:
    host = await user(api_embedded, "Host")
    party_id = await create_party(api_embedded, host)
    playback = await party_field(api_embedded, host, party_id, "playback { revision }")
    initial: int = playback["playback"]["revision"]
    results = await asyncio.gather(
        *(
            api_embedded.gql(
                SEEK,
                {"input": {"partyId": party_id, "positionSeconds": float(n + 1)}},
                token=host.token,
            )
            for n in range(CONTROLS)
        )
    )
    revisions = sorted(r.data["seek"]["playback"]["revision"] for r in results)
    assert revisions == list(range(initial + 1, initial + CONTROLS + 1))
