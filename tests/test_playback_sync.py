"""Clock sync, player reports (drift, round trips, lead time, rate limit) and playback events."""

from __future__ import annotations

from typing import Any

from tests.playback_ops import (
    URL_ITEM,
    add_item,
    create_party,
    member,
    now_ms,
    playback_ok,
    read_party,
    report,
)
from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from tests.test_party_stream_support import User, party_stream

SERVER_TIME = """query($t: Float!) { serverTime(clientTimeMs: $t) {
    clientTimeMs serverReceivedMs serverSentMs } }"""


def between(value: float, low: float, high: float) -> None:
    assert low <= value <= high, (low, value, high)


def check_sample(sample: dict[str, Any], t0: float, t3: float) -> None:
    assert sample["clientTimeMs"] == t0
    assert t0 <= sample["serverReceivedMs"] <= sample["serverSentMs"] <= t3


async def test_server_time_over_http(any_api: Api) -> None:
    t0 = now_ms()
    result = await any_api.gql(SERVER_TIME, {"t": t0})
    t3 = now_ms()
    check_sample(result.data["serverTime"], t0, t3)


async def test_server_time_over_the_websocket(any_api: Api) -> None:
    async with live_server(any_api.app) as base, graphql_socket(base) as socket:
        assert (await socket.init())["type"] == "connection_ack"
        for _ in range(3):
            t0 = now_ms()
            messages = await socket.execute(SERVER_TIME, {"t": t0})
            t3 = now_ms()
            assert [m["type"] for m in messages] == ["next", "complete"]
            check_sample(messages[0]["payload"]["data"]["serverTime"], t0, t3)


async def test_reports_record_drift(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    viewer = await member(any_api, party)
    await playback_ok(any_api, "seek", party.id, party.host.token, positionSeconds=12)

    behind = await report(any_api, party.id, viewer.token, "PLAYING", 10)
    assert behind == {"__typename": "ReportPlayerStatePayload", "driftMs": -2000.0, "revision": 2}
    assert (await read_party(any_api, party.id, viewer.token))["myMembership"] == {
        "lastDriftMs": -2000.0
    }
    ahead = await report(any_api, party.id, viewer.token, "PAUSED", 12.5, rttMs=80)
    assert ahead["driftMs"] == 500.0

    # A player that still has another item loaded: not comparable, the last drift stays.
    other = await report(
        any_api,
        party.id,
        viewer.token,
        "PLAYING",
        1,
        itemId="00000000-0000-0000-0000-000000000000",
    )
    assert other["driftMs"] is None
    assert (await read_party(any_api, party.id, viewer.token))["myMembership"] == {
        "lastDriftMs": 500.0
    }

    bad = await report(any_api, party.id, viewer.token, "PLAYING", -1)
    assert (bad["__typename"], bad["field"]) == ("ValidationError", "positionSeconds")
    bad = await report(any_api, party.id, viewer.token, "PLAYING", 1, rttMs=-5)
    assert (bad["__typename"], bad["field"]) == ("ValidationError", "rttMs")


async def test_reports_are_rate_limited_per_member(tmp: Any) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp, rate_limit_player_reports="2/60")
    async with running_app(settings) as api:
        party = await create_party(api, media=URL_ITEM)
        viewer = await member(api, party)
        for _ in range(2):
            answer = await report(api, party.id, viewer.token, "READY", 0)
            assert answer["__typename"] == "ReportPlayerStatePayload"
        limited = await report(api, party.id, viewer.token, "READY", 0)
        assert limited["__typename"] == "RateLimited"
        assert 1 <= limited["retryAfterSeconds"] <= 60
        # Another member has their own budget.
        other = await member(api, party)
        answer = await report(api, party.id, other.token, "READY", 0)
        assert answer["__typename"] == "ReportPlayerStatePayload"


async def test_lead_time_follows_online_members_round_trips(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    viewer = await member(any_api, party)
    async with (
        live_server(any_api.app) as base,
        party_stream(base, User(viewer.id, viewer.token), party.id) as stream,
    ):
        await stream.next()  # the snapshot: the viewer is online now
        answer = await report(any_api, party.id, viewer.token, "READY", 0, rttMs=1600)
        assert answer["__typename"] == "ReportPlayerStatePayload"
        before = now_ms()
        played = await playback_ok(any_api, "play", party.id, party.host.token)
        after = now_ms()
        # lead = 2 x the slowest one-way delay (1600 / 2) = 1600 ms
        between(played["anchorServerTimeMs"], before + 1600, after + 1600)
    # Nobody online any more: back to the minimum lead.
    await playback_ok(any_api, "pause", party.id, party.host.token)
    before = now_ms()
    played = await playback_ok(any_api, "play", party.id, party.host.token)
    after = now_ms()
    between(played["anchorServerTimeMs"], before + 300, after + 300)


async def test_changes_are_streamed_and_reports_are_not(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    viewer = await member(any_api, party)
    skip = ("PresenceChanged", "MemberJoined", "MemberUpdated")
    async with (
        live_server(any_api.app) as base,
        party_stream(base, User(viewer.id, viewer.token), party.id) as stream,
    ):
        snapshot = await stream.next()
        assert snapshot["event"]["__typename"] == "PartySnapshot"

        added = await add_item(any_api, party, "Second", 30)
        event = (await stream.next_event(*skip))["event"]
        assert event == {
            "__typename": "QueueChanged",
            "queue": [
                {"id": q["id"], "title": q["title"], "position": q["position"]}
                for q in added["queue"]
            ],
        }

        played = await playback_ok(any_api, "play", party.id, party.host.token)
        event = (await stream.next_event(*skip))["event"]
        assert event["__typename"] == "PlaybackChanged"
        assert event["playback"] == {
            "state": "PLAYING",
            "revision": played["revision"],
            "positionSeconds": 0.0,
            "rate": 1.0,
            "item": {"title": "First"},
            "updatedBy": {"id": party.host.id},
        }

        for _ in range(3):
            await report(any_api, party.id, viewer.token, "PLAYING", 0.1)
        paused = await playback_ok(any_api, "pause", party.id, party.host.token)
        event = (await stream.next_event(*skip))["event"]
        assert event["__typename"] == "PlaybackChanged"  # nothing from the reports before it
        assert event["playback"]["revision"] == paused["revision"] == played["revision"] + 1
