"""The server's own events reach `analytics_events` after the commit, through the same store:
sign-up, party create and join, playback controls, chat, reactions and player reports."""

from __future__ import annotations

import uuid

from tests.analytics_ingest_ops import server_events
from tests.chat_ops import send
from tests.playback_ops import (
    URL_ITEM,
    create_party,
    member,
    person,
    playback_ok,
    report,
)
from tests.support import Api, live_server
from tests.test_party_stream_support import create_party as stream_party
from tests.test_party_stream_support import party_stream
from tests.test_party_stream_support import user as stream_user


async def test_party_life_becomes_server_events(any_api: Api) -> None:
    api = any_api
    host = await person(api, "Host")
    party = await create_party(api, host, media=URL_ITEM)
    guest = await member(api, party)
    await playback_ok(api, "play", party.id, host.token)
    await playback_ok(api, "seek", party.id, host.token, positionSeconds=42.0)
    await send(api, guest.token, party.id, "hello")
    answer = await report(api, party.id, guest.token, "PLAYING", 41.0)
    assert answer["__typename"] == "ReportPlayerStatePayload", answer
    reaction = await api.gql(
        "mutation($input: SendReactionInput!) { sendReaction(input: $input) { __typename } }",
        {
            "input": {
                "partyId": party.id,
                "emoji": "😂",
                "videoPositionSeconds": 43.5,
                "x": 0.5,
                "y": 0.5,
            }
        },
        token=guest.token,
    )
    assert reaction.data["sendReaction"]["__typename"] == "SendReactionPayload"
    left = await api.gql(
        "mutation($input: LeavePartyInput!) { leaveParty(input: $input) { __typename } }",
        {"input": {"partyId": party.id}},
        token=guest.token,
    )
    assert left.data["leaveParty"]["__typename"] == "LeavePartyPayload", left.body

    [signed_up] = await server_events(api, "auth.sign_up", user_id=host.id)
    assert (signed_up.source, signed_up.properties) == ("SERVER", {"method": "password"})
    [created] = await server_events(api, "party.create", party_id=party.id)
    assert created.user_id == uuid.UUID(host.id)
    assert created.properties == {"visibility": "PUBLIC"}
    [joined] = await server_events(api, "party.join", party_id=party.id)
    assert (joined.user_id, joined.properties) == (uuid.UUID(guest.id), {"role": "MEMBER"})
    controls = await server_events(api, "party.playback", party_id=party.id, count=2)
    assert [c.properties["action"] for c in controls] == ["PLAY", "SEEK"]
    assert controls[1].position_seconds is not None and 42 <= controls[1].position_seconds < 43
    [message] = await server_events(api, "chat.message", party_id=party.id)
    assert message.user_id == uuid.UUID(guest.id)
    [reported] = await server_events(api, "player.report", party_id=party.id)
    assert reported.user_id == uuid.UUID(guest.id)
    assert reported.position_seconds == 41.0
    assert set(reported.properties) == {"driftMs", "buffering"}
    assert reported.properties["buffering"] is False
    [reacted] = await server_events(api, "reaction.send", party_id=party.id)
    assert (reacted.position_seconds, reacted.properties) == (43.5, {"emoji": "😂"})
    assert reacted.video_id is None  # a URL item, not a library video
    [gone] = await server_events(api, "party.leave", party_id=party.id)
    assert (gone.user_id, gone.properties) == (uuid.UUID(guest.id), {"reason": "LEFT"})


async def test_presence_becomes_online_and_offline_events(any_api: Api) -> None:
    """Concurrent viewers come from these: a member's stream opening and closing."""
    host = await stream_user(any_api, "Host")
    party_id = await stream_party(any_api, host)
    async with live_server(any_api.app) as base, party_stream(base, host, party_id) as stream:
        await stream.next()  # the snapshot: the member is online now
        [online] = await server_events(any_api, "party.online", party_id=party_id)
        assert online.user_id == uuid.UUID(host.id)
    [offline] = await server_events(any_api, "party.offline", party_id=party_id)
    assert offline.user_id == uuid.UUID(host.id)
    assert offline.occurred_at >= online.occurred_at
