"""The party stream through real graphql-transport-ws clients, on both stacks.

A snapshot first, then ordered events with consecutive cursors; reconnecting with the last cursor
replays exactly the missed events; a cursor past retention gets a snapshot flagged `resync`.
"""

from __future__ import annotations

from pathlib import Path

from tests.support import Api, live_server, make_settings, running_app
from tests.test_party_stream_support import (
    create_party,
    invite_and_join,
    party_stream,
    rename,
    seek,
    stream_error,
    user,
)


async def test_snapshot_first_then_ordered_events_with_cursors(any_api: Api) -> None:
    host = await user(any_api, "Host")
    guest = await user(any_api, "Guest")
    party_id = await create_party(any_api, host, title="Opening night")
    async with live_server(any_api.app) as base, party_stream(base, host, party_id) as stream:
        first = await stream.next()
        assert first["resync"] is False
        snapshot = first["event"]
        assert snapshot["__typename"] == "PartySnapshot"
        assert snapshot["party"]["id"] == party_id
        assert snapshot["party"]["title"] == "Opening night"
        assert snapshot["party"]["memberCount"] == 1
        assert snapshot["party"]["onlineCount"] == 1  # the host, holding this very stream
        assert snapshot["party"]["members"]["edges"] == [
            {"node": {"user": {"id": host.id}, "online": True}}
        ]
        head = int(first["cursor"])

        revision = await seek(any_api, host, party_id, 12.5)
        await rename(any_api, host, party_id, "Second feature")
        await invite_and_join(any_api, host, guest, party_id)

        played = await stream.next_event("PresenceChanged")
        assert played["cursor"] == str(head + 1)
        assert played["resync"] is False
        assert played["event"] == {
            "__typename": "PlaybackChanged",
            "playback": {
                "state": "PAUSED",
                "revision": revision,
                "positionSeconds": 12.5,
                "rate": 1.0,
                "item": {"title": played["event"]["playback"]["item"]["title"]},
                "updatedBy": {"id": host.id},
            },
        }
        updated = await stream.next_event("PresenceChanged")
        assert updated["cursor"] == str(head + 2)
        assert updated["event"]["__typename"] == "PartyUpdated"
        assert updated["event"]["party"]["title"] == "Second feature"
        joined = await stream.next_event("PresenceChanged")
        assert joined["cursor"] == str(head + 3)
        assert joined["event"] == {
            "__typename": "MemberJoined",
            "member": {
                "user": {"id": guest.id, "displayName": "Guest"},
                "role": "MEMBER",
                "status": "ACTIVE",
                "online": False,
            },
        }
        assert played["occurredAt"] <= updated["occurredAt"] <= joined["occurredAt"]


async def test_reconnecting_with_the_last_cursor_replays_exactly_the_missed_events(
    any_api: Api,
) -> None:
    host = await user(any_api, "Host")
    party_id = await create_party(any_api, host)
    async with live_server(any_api.app) as base:
        async with party_stream(base, host, party_id) as stream:
            await stream.next()  # snapshot
            await seek(any_api, host, party_id, 1.0)
            seen = await stream.next_event("PresenceChanged")
            last = seen["cursor"]
        # Offline: three changes the client does not see.
        revisions = [await seek(any_api, host, party_id, float(n)) for n in (2, 3, 4)]
        async with party_stream(base, host, party_id, after=last) as stream:
            first = await stream.next()
            assert first["event"]["__typename"] == "PartySnapshot"
            assert first["resync"] is False
            assert first["cursor"] == last
            replayed = [await stream.next_event("PresenceChanged") for _ in revisions]
            assert [item["cursor"] for item in replayed] == [str(int(last) + n) for n in (1, 2, 3)]
            assert [item["event"]["playback"]["revision"] for item in replayed] == revisions
            assert [item["event"]["playback"]["positionSeconds"] for item in replayed] == [
                2.0,
                3.0,
                4.0,
            ]
            # ...and then live, without a gap or a repeat.
            revision = await seek(any_api, host, party_id, 5.0)
            live = await stream.next_event("PresenceChanged")
            assert live["cursor"] == str(int(last) + 4)
            assert live["event"]["playback"]["revision"] == revision


async def test_a_cursor_past_retention_gets_a_resync_snapshot(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        realtime_retention_count=10,  # keep only the newest ten events per party
    )
    async with running_app(settings) as api, live_server(api.app) as base:
        host = await user(api, "Host")
        party_id = await create_party(api, host)
        async with party_stream(base, host, party_id) as stream:
            old = (await stream.next())["cursor"]
        for n in range(25):
            await seek(api, host, party_id, float(n))
        async with party_stream(base, host, party_id, after=old) as stream:
            first = await stream.next()
            assert first["event"]["__typename"] == "PartySnapshot"
            assert first["resync"] is True
            head = int(first["cursor"])
            assert head == int(old) + 25
            revision = await seek(api, host, party_id, 99.0)
            live = await stream.next_event("PresenceChanged")
            assert live["cursor"] == str(head + 1)
            assert live["event"]["playback"]["revision"] == revision
        # A cursor from the future, or garbage, is answered the same way.
        for cursor in (str(head + 1000), "not-a-cursor"):
            async with party_stream(base, host, party_id, after=cursor) as stream:
                first = await stream.next()
                assert first["event"]["__typename"] == "PartySnapshot"
                assert first["resync"] is True
                assert first["cursor"] == str(head + 1)


async def test_strangers_cannot_follow_a_private_party(any_api: Api) -> None:
    host = await user(any_api, "Host")
    stranger = await user(any_api, "Stranger")
    party_id = await create_party(any_api, host, visibility="PRIVATE")
    not_found = [{"message": "Party not found.", "extensions": {"code": "NOT_FOUND"}}]
    async with live_server(any_api.app) as base:
        assert await stream_error(base, stranger, party_id) == not_found
        assert await stream_error(base, None, party_id) == not_found
        # Exactly the answer for a party that does not exist, or an id that is not one.
        missing = "00000000-0000-4000-8000-000000000000"
        assert await stream_error(base, stranger, missing) == not_found
        assert await stream_error(base, stranger, "nope") == not_found
