"""Playback controls over GraphQL: exact resulting timelines, revisions, conflicts, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.playback_ops import (
    LEAD_MS,
    URL_ITEM,
    add_item,
    control,
    create_party,
    member,
    now_ms,
    playback_ok,
    read_party,
)
from tests.support import Api


def between(value: float, low: float, high: float) -> None:
    assert low <= value <= high, (low, value, high)


async def test_new_party_with_media_is_paused_at_its_first_item(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    playback = party.playback
    assert playback["state"] == "PAUSED"
    assert playback["item"]["id"] == party.queue[0]["id"]
    assert playback["item"]["title"] == "First"
    assert playback["item"]["durationSeconds"] == 600.0
    assert playback["positionSeconds"] == 0.0
    assert playback["rate"] == 1.0
    assert playback["revision"] == 1
    assert playback["waitingFor"] == [] and playback["lagging"] == []


async def test_play_pause_seek_rate_exact_values(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token

    before = now_ms()
    played = await playback_ok(any_api, "play", party.id, token)
    after = now_ms()
    assert played["state"] == "PLAYING"
    assert played["positionSeconds"] == 0.0
    assert played["revision"] == 2
    assert played["rate"] == 1.0
    assert played["updatedBy"] == {"id": party.host.id}
    between(played["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)

    # Play again: a no-op, same revision.
    again = await playback_ok(any_api, "play", party.id, token)
    assert again == played

    await asyncio.sleep(LEAD_MS / 1000 + 0.3)  # past the anchor: the playhead moves
    before = now_ms()
    paused = await playback_ok(any_api, "pause", party.id, token)
    after = now_ms()
    assert paused["state"] == "PAUSED"
    assert paused["revision"] == 3
    # Anchored in the future like a start: playback runs on until then (SYNC.md).
    between(paused["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)
    elapsed = (paused["anchorServerTimeMs"] - played["anchorServerTimeMs"]) / 1000
    assert paused["positionSeconds"] == pytest.approx(elapsed, abs=1e-6)
    assert paused["positionSeconds"] > 0
    await asyncio.sleep(LEAD_MS / 1000 + 0.05)  # past the pause's anchor: really paused

    before = now_ms()
    sought = await playback_ok(any_api, "seek", party.id, token, positionSeconds=42.5)
    after = now_ms()
    assert sought["state"] == "PAUSED"
    assert sought["positionSeconds"] == 42.5
    assert sought["revision"] == 4
    between(sought["anchorServerTimeMs"], before, after)

    rated = await playback_ok(any_api, "setPlaybackRate", party.id, token, rate=1.5)
    assert rated["rate"] == 1.5
    assert rated["positionSeconds"] == 42.5
    assert rated["state"] == "PAUSED"
    assert rated["revision"] == 5
    same = await playback_ok(any_api, "setPlaybackRate", party.id, token, rate=1.5)
    assert same["revision"] == 5

    before = now_ms()
    resumed = await playback_ok(any_api, "play", party.id, token)
    after = now_ms()
    assert resumed["state"] == "PLAYING"
    assert resumed["positionSeconds"] == 42.5
    assert resumed["rate"] == 1.5
    assert resumed["revision"] == 6
    between(resumed["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)

    before = now_ms()
    sought = await playback_ok(any_api, "seek", party.id, token, positionSeconds=100)
    after = now_ms()
    assert sought["state"] == "PLAYING"
    assert sought["positionSeconds"] == 100.0
    assert sought["revision"] == 7
    between(sought["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)

    # What everyone reads matches what the control answered.
    assert (await read_party(any_api, party.id, token))["playback"] == sought


async def test_queue_item_controls(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    second = (await add_item(any_api, party, "Second", 300))["queue"][1]
    third = (await add_item(any_api, party, "Third"))["queue"][2]
    first = party.queue[0]

    before = now_ms()
    chosen = await playback_ok(any_api, "playQueueItem", party.id, token, itemId=third["id"])
    after = now_ms()
    assert chosen["state"] == "PLAYING"
    assert chosen["item"]["id"] == third["id"]
    assert chosen["item"]["durationSeconds"] is None
    assert chosen["positionSeconds"] == 0.0
    assert chosen["revision"] == 2
    between(chosen["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)

    previous = await playback_ok(any_api, "skipToPrevious", party.id, token)
    assert previous["item"]["id"] == second["id"]
    assert previous["state"] == "PLAYING"  # it was playing: the previous one plays
    assert previous["revision"] == 3

    paused = await playback_ok(any_api, "pause", party.id, token)
    assert paused["revision"] == 4
    previous = await playback_ok(any_api, "skipToPrevious", party.id, token)
    assert previous["item"]["id"] == first["id"]
    assert previous["state"] == "PAUSED"  # it was paused: stays paused, at 0
    assert previous["positionSeconds"] == 0.0
    assert previous["revision"] == 5

    no_previous = await control(any_api, "skipToPrevious", party.id, token)
    assert no_previous["__typename"] == "ValidationError"
    assert no_previous["message"] == "There is no previous item in the queue."

    following = await playback_ok(any_api, "skipToNext", party.id, token)
    assert following["item"]["id"] == second["id"]
    assert following["revision"] == 6
    await playback_ok(any_api, "skipToNext", party.id, token)
    no_next = await control(any_api, "skipToNext", party.id, token)
    assert no_next["__typename"] == "ValidationError"
    assert no_next["message"] == "There is no next item in the queue."

    unknown = await control(
        any_api, "playQueueItem", party.id, token, itemId="00000000-0000-0000-0000-000000000000"
    )
    assert unknown["__typename"] == "NotFound"
    malformed = await control(any_api, "playQueueItem", party.id, token, itemId="nope")
    assert malformed["__typename"] == "NotFound"


async def test_bad_arguments_are_typed_errors_and_change_nothing(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("seek", {"positionSeconds": -1}, "positionSeconds"),
        ("seek", {"positionSeconds": 600.5}, "positionSeconds"),
        ("setPlaybackRate", {"rate": 0.2}, "rate"),
        ("setPlaybackRate", {"rate": 2.01}, "rate"),
    ]
    for name, fields, field in cases:
        answer = await control(any_api, name, party.id, token, **fields)
        assert answer["__typename"] == "ValidationError", answer
        assert answer["code"] == "VALIDATION"
        assert answer["field"] == field
    edge = await playback_ok(any_api, "seek", party.id, token, positionSeconds=600)
    assert edge["positionSeconds"] == 600.0
    slow = await playback_ok(any_api, "setPlaybackRate", party.id, token, rate=0.25)
    fast = await playback_ok(any_api, "setPlaybackRate", party.id, token, rate=2)
    assert (slow["rate"], fast["rate"], fast["revision"]) == (0.25, 2.0, 4)


async def test_controls_without_an_item(any_api: Api) -> None:
    party = await create_party(any_api)
    token = party.host.token
    assert party.playback["state"] == "IDLE"
    assert party.playback["item"] is None
    for name, fields in [("play", {}), ("pause", {}), ("seek", {"positionSeconds": 1})]:
        answer = await control(any_api, name, party.id, token, **fields)
        assert answer["__typename"] == "ValidationError", (name, answer)
        assert answer["field"] is None
    assert (await read_party(any_api, party.id, token))["playback"]["revision"] == 0


async def test_stale_expected_revision_is_a_conflict_with_the_current_timeline(
    any_api: Api,
) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    played = await playback_ok(any_api, "play", party.id, token, expectedRevision=1)
    assert played["revision"] == 2

    stale = await control(any_api, "pause", party.id, token, expectedRevision=1)
    assert stale["__typename"] == "RevisionConflict"
    assert stale["code"] == "REVISION_CONFLICT"
    assert stale["field"] == "expectedRevision"
    assert stale["current"] == played

    future = await control(any_api, "seek", party.id, token, positionSeconds=5, expectedRevision=9)
    assert future["__typename"] == "RevisionConflict"
    assert future["current"]["revision"] == 2
    assert (await read_party(any_api, party.id, token))["playback"] == played


async def test_concurrent_pauses_have_exactly_one_winner(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM, controlPolicy="HOSTS")
    cohost = await member(any_api, party, "COHOST")
    played = await playback_ok(any_api, "play", party.id, party.host.token)
    revision = played["revision"]

    answers = await asyncio.gather(
        control(any_api, "pause", party.id, party.host.token, expectedRevision=revision),
        control(any_api, "pause", party.id, cohost.token, expectedRevision=revision),
    )
    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["PlaybackPayload", "RevisionConflict"]
    winner = next(a for a in answers if a["__typename"] == "PlaybackPayload")["playback"]
    loser = next(a for a in answers if a["__typename"] == "RevisionConflict")
    assert winner["revision"] == revision + 1
    assert winner["state"] == "PAUSED"
    assert loser["current"] == winner
    assert (await read_party(any_api, party.id, party.host.token))["playback"] == winner


async def test_concurrent_seeks_without_expected_revision_both_apply_in_order(
    any_api: Api,
) -> None:
    """Without expectedRevision the loser of a race retries on the fresh state: no revision is
    produced twice and the stored timeline is the last one written."""
    party = await create_party(any_api, media=URL_ITEM, controlPolicy="HOSTS")
    cohost = await member(any_api, party, "COHOST")
    answers = await asyncio.gather(
        playback_ok(any_api, "seek", party.id, party.host.token, positionSeconds=10),
        playback_ok(any_api, "seek", party.id, cohost.token, positionSeconds=20),
    )
    assert sorted(a["revision"] for a in answers) == [2, 3]
    last = max(answers, key=lambda a: a["revision"])
    assert (await read_party(any_api, party.id, party.host.token))["playback"] == last


async def test_deleted_and_ended_parties(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    ended = await any_api.gql(
        """mutation($input: EndPartyInput!) { endParty(input: $input) { __typename } }""",
        {"input": {"partyId": party.id}},
        token=token,
    )
    assert ended.data["endParty"]["__typename"] == "PartyPayload"
    answer = await control(any_api, "play", party.id, token)
    assert answer["__typename"] == "PartyEndedError"
    assert answer["code"] == "PARTY_ENDED"
    assert answer["message"] == "This party has ended."

    other = await create_party(any_api, party.host, media=URL_ITEM)
    deleted = await any_api.gql(
        """mutation($input: DeletePartyInput!) { deleteParty(input: $input) { __typename } }""",
        {"input": {"partyId": other.id}},
        token=token,
    )
    assert deleted.data["deleteParty"]["__typename"] == "DeletePartyPayload"
    answer = await control(any_api, "play", other.id, token)
    assert answer["__typename"] == "NotFound"
    assert answer["message"] == "Party not found."
