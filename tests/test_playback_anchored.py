"""Pause, seek and rate change while playing are anchored `lead` ahead (SYNC.md, issue 15).

Before its anchor a change has not happened: the answer, the stream event and a late joiner's
snapshot carry `previous` (the segment it replaces) so everyone computes the same playhead until
the anchor; once the anchor has passed `previous` is null. A change made before the pending one's
anchor replaces it and keeps the same `previous`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.playback_ops import URL_ITEM, create_party, member, now_ms, report
from tests.support import Api, graphql_socket, live_server

LEAD_MS = 1000.0  # an online member reports a 1000 ms round trip: lead = 2 x 500
PB = """state positionSeconds anchorServerTimeMs rate revision
    previous { state positionSeconds anchorServerTimeMs rate }"""
EVENTS = f"""subscription($partyId: ID!) {{ partyEvents(partyId: $partyId) {{ event {{
    __typename
    ... on PartySnapshot {{ party {{ playback {{ {PB} }} }} }}
    ... on PlaybackChanged {{ playback {{ {PB} }} }} }} }} }}"""
INPUTS = {"play": "PlaybackControlInput", "pause": "PlaybackControlInput"}
INPUTS |= {"seek": "SeekInput", "setPlaybackRate": "SetPlaybackRateInput"}


async def act(api: Api, name: str, party_id: str, token: str, **fields: Any) -> dict[str, Any]:
    result = await api.gql(
        f"""mutation($input: {INPUTS[name]}!) {{ {name}(input: $input) {{ __typename
            ... on PlaybackPayload {{ playback {{ {PB} }} }} }} }}""",
        {"input": {"partyId": party_id, **fields}},
        token=token,
    )
    payload: dict[str, Any] = result.data[name]
    assert payload["__typename"] == "PlaybackPayload", payload
    playback: dict[str, Any] = payload["playback"]
    return playback


async def timed(
    api: Api, name: str, party_id: str, token: str, **fields: Any
) -> tuple[dict[str, Any], float, float]:
    before = now_ms()
    playback = await act(api, name, party_id, token, **fields)
    return playback, before, now_ms()


async def read(api: Api, party_id: str, token: str) -> dict[str, Any]:
    result = await api.gql(
        f"query($id: ID!) {{ party(id: $id) {{ playback {{ {PB} }} }} }}",
        {"id": party_id},
        token=token,
    )
    playback: dict[str, Any] = result.data["party"]["playback"]
    return playback


def segment(playback: dict[str, Any]) -> dict[str, Any]:
    return {k: playback[k] for k in ("state", "positionSeconds", "anchorServerTimeMs", "rate")}


def position_at(playback: dict[str, Any], t: float) -> float:
    """What a client computes (the README's sync section)."""
    if t < playback["anchorServerTimeMs"] and playback.get("previous"):
        return position_at(playback["previous"], t)
    if playback["state"] != "PLAYING" or t < playback["anchorServerTimeMs"]:
        return float(playback["positionSeconds"])
    elapsed = (t - playback["anchorServerTimeMs"]) * playback["rate"] / 1000
    return float(playback["positionSeconds"] + elapsed)


def anchored_ahead(playback: dict[str, Any], before: float, after: float) -> None:
    anchor = playback["anchorServerTimeMs"]
    assert before + LEAD_MS <= anchor <= after + LEAD_MS, (before, anchor, after)


async def past(playback: dict[str, Any]) -> None:
    await asyncio.sleep(max(0.0, playback["anchorServerTimeMs"] - now_ms()) / 1000 + 0.05)


async def next_playback(socket: Any) -> dict[str, Any]:
    while True:
        message = await socket.receive()
        assert message["type"] == "next", message
        event = message["payload"]["data"]["partyEvents"]["event"]
        if event["__typename"] == "PartySnapshot":
            playback: dict[str, Any] = event["party"]["playback"]
            return playback
        if event["__typename"] == "PlaybackChanged":
            changed: dict[str, Any] = event["playback"]
            return changed


async def test_pause_seek_and_rate_while_playing_are_anchored_ahead(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    host = party.host.token
    viewer = await member(any_api, party)
    late = await member(any_api, party, "MEMBER")
    async with live_server(any_api.app) as base, graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {viewer.token}"})
        assert ack["type"] == "connection_ack"
        await socket.subscribe(EVENTS, {"partyId": party.id})
        assert (await next_playback(socket))["state"] == "PAUSED"  # the snapshot: online now
        answer = await report(any_api, party.id, viewer.token, "READY", 0, rttMs=LEAD_MS)
        assert answer["__typename"] == "ReportPlayerStatePayload"

        played, before, after = await timed(any_api, "play", party.id, host)
        anchored_ahead(played, before, after)
        assert played["previous"] == {
            "state": "PAUSED",
            "positionSeconds": 0.0,
            "anchorServerTimeMs": party.playback["anchorServerTimeMs"],
            "rate": 1.0,
        }
        assert await next_playback(socket) == played
        await past(played)
        assert (await read(any_api, party.id, host))["previous"] is None

        # Pause while playing: playback runs on until the anchor, then holds there.
        paused, before, after = await timed(any_api, "pause", party.id, host)
        anchored_ahead(paused, before, after)
        assert paused["state"] == "PAUSED"
        assert paused["revision"] == played["revision"] + 1
        assert paused["previous"] == segment(played)
        elapsed = (paused["anchorServerTimeMs"] - played["anchorServerTimeMs"]) / 1000
        assert paused["positionSeconds"] == pytest.approx(elapsed, abs=1e-6)
        event = await next_playback(socket)
        assert now_ms() < paused["anchorServerTimeMs"]  # reached before its anchor
        assert event == paused

        # A late joiner's snapshot during the lead: the same two segments, so the same playhead.
        async with graphql_socket(base) as other:
            ack = await other.init({"authorization": f"Bearer {late.token}"})
            assert ack["type"] == "connection_ack"
            await other.subscribe(EVENTS, {"partyId": party.id})
            snapshot = await next_playback(other)
        instant = now_ms()
        assert instant < paused["anchorServerTimeMs"]
        assert snapshot == paused
        expected = (instant - played["anchorServerTimeMs"]) / 1000  # still playing at rate 1
        assert position_at(snapshot, instant) == pytest.approx(expected, abs=1e-6)

        await past(paused)
        settled = await read(any_api, party.id, host)
        assert settled == {**paused, "previous": None}
        assert position_at(settled, now_ms()) == paused["positionSeconds"]

        resumed, _, _ = await timed(any_api, "play", party.id, host)
        assert resumed["previous"] == {**segment(paused)}
        await past(resumed)

        # Seek while playing, then a rate change before the seek's anchor: the rate change
        # replaces the pending seek and keeps the same previous (the segment still playing).
        sought, before, after = await timed(any_api, "seek", party.id, host, positionSeconds=100)
        anchored_ahead(sought, before, after)
        assert sought["state"] == "PLAYING" and sought["positionSeconds"] == 100.0
        assert sought["previous"] == segment(resumed)
        rated, before, after = await timed(any_api, "setPlaybackRate", party.id, host, rate=1.5)
        assert now_ms() < sought["anchorServerTimeMs"]
        anchored_ahead(rated, before, after)
        assert rated["rate"] == 1.5 and rated["revision"] == sought["revision"] + 1
        assert rated["previous"] == segment(resumed)
        at = rated["anchorServerTimeMs"]
        assert rated["positionSeconds"] == pytest.approx(position_at(resumed, at), abs=1e-6)
        await past(rated)
        assert await read(any_api, party.id, host) == {**rated, "previous": None}

        # Paused and settled: a seek needs no lead and keeps no previous.
        await past(await act(any_api, "pause", party.id, host))
        before = now_ms()
        still = await act(any_api, "seek", party.id, host, positionSeconds=5)
        assert before <= still["anchorServerTimeMs"] <= now_ms()
        assert still["previous"] is None
