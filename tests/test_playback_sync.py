"""Clock sync, player reports (drift, round trips, lead time, rate limit) and playback events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
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


# A large valid document (25 aliased samples, each echoing its own value): parsing, validation and
# the cost rule walk all of it before any resolver runs.
SAMPLES = 25
SAMPLE_FIELDS = " ".join(
    f"s{i}: serverTime(clientTimeMs: {1_000_000 + i}.25) "
    "{ clientTimeMs serverReceivedMs serverSentMs }"
    for i in range(SAMPLES)
)
MANY_SAMPLES = "query { " + SAMPLE_FIELDS + " }"


def check_one_arrival(data: dict[str, Any], t0: float, t3: float) -> float:
    """Every sample of one request: its echo exact, and one receive stamp for all, taken when
    the request arrived (not per resolver, after parsing): t0 <= received <= each sent <= t3."""
    samples = [data[f"s{i}"] for i in range(SAMPLES)]
    assert [s["clientTimeMs"] for s in samples] == [1_000_000 + i + 0.25 for i in range(SAMPLES)]
    received = {s["serverReceivedMs"] for s in samples}
    assert len(received) == 1, received
    stamp: float = received.pop()
    assert t0 <= stamp <= min(s["serverSentMs"] for s in samples)
    assert max(s["serverSentMs"] for s in samples) <= t3
    return stamp


async def test_the_receive_stamp_is_taken_at_http_arrival(any_api: Api) -> None:
    stamps = []
    for _ in range(2):
        t0 = now_ms()
        # A client cannot supply the stamp: whatever it sends, the server's own clock is used.
        result = await any_api.gql(MANY_SAMPLES, headers={"x-request-start": "t=1"})
        t3 = now_ms()
        stamps.append(check_one_arrival(result.data, t0, t3))
    assert stamps[0] < stamps[1]


async def test_the_receive_stamp_is_taken_per_websocket_message(any_api: Api) -> None:
    async with live_server(any_api.app) as base, graphql_socket(base) as socket:
        assert (await socket.init())["type"] == "connection_ack"
        t0 = now_ms()  # after the connection opened: its own arrival must not be reused
        # Two operations in one burst, the second claiming a stamp of its own (ignored).
        await socket.send({"id": "a", "type": "subscribe", "payload": {"query": MANY_SAMPLES}})
        fake = {"query": MANY_SAMPLES, "extensions": {"serverReceivedMs": 1.0}}
        await socket.send({"id": "b", "type": "subscribe", "payload": fake})
        answers: dict[str, dict[str, Any]] = {}
        completed = set()
        while completed != {"a", "b"}:
            message = await socket.receive()
            if message["type"] == "next":
                assert "errors" not in message["payload"], message
                answers[message["id"]] = message["payload"]["data"]
            else:
                assert message["type"] == "complete", message
                completed.add(message["id"])
        t3 = now_ms()
        first = check_one_arrival(answers["a"], t0, t3)
        second = check_one_arrival(answers["b"], t0, t3)
        assert first <= second  # frames are stamped in the order they arrive


GC_PROBE = """
import asyncio, gc, json
from watchparty.app import create_app_from_env

async def main():
    app = create_app_from_env()
    async with app.router.lifespan_context(app):
        print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}))

asyncio.run(main())
"""


def gc_after_startup(tmp: Path, **env: str) -> dict[str, Any]:
    """Start the app the way `watchparty serve` does (its uvicorn factory) in a fresh process."""
    environ = {
        **os.environ,
        "APP_ENV": "test",
        "DATA_DIR": str(tmp),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gc.db'}",
        "REDIS_URL": "",
        "BROADCAST_URL": "memory://",
        "AUTO_MIGRATE": "true",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE],
        env=environ,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_serve_freezes_the_start_up_heap_unless_turned_off(tmp: Path) -> None:
    tuned = gc_after_startup(tmp)
    assert tuned["frozen"] > 10_000  # the schema, the ORM mappers, the modules
    assert tuned["threshold"] == [5_000, 10, 10]
    plain = gc_after_startup(tmp, GC_TUNING="false")
    assert plain == {"frozen": 0, "threshold": [700, 10, 10]}


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
