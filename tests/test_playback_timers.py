"""Jobs that move the timeline on their own: an item that ends, a buffering wait that ends."""

from __future__ import annotations

from tests.playback_ops import (
    LEAD_MS,
    add_item,
    control,
    create_party,
    member,
    now_ms,
    playback_ok,
    report,
    wait_for_playback,
)
from tests.support import Api

SHORT = {"url": "https://videos.example.com/short.mp4", "title": "Short", "durationSeconds": 1.5}


def between(value: float, low: float, high: float) -> None:
    assert low <= value <= high, (low, value, high)


async def test_an_item_that_ends_advances_the_queue_then_the_timeline_ends(any_api: Api) -> None:
    party = await create_party(any_api, media=SHORT)
    token = party.host.token
    second = (await add_item(any_api, party, "Next", 1))["queue"][1]
    played = await playback_ok(any_api, "play", party.id, token)
    assert played["revision"] == 2

    advanced = await wait_for_playback(any_api, party.id, token, lambda p: p["revision"] >= 3)
    assert advanced["revision"] == 3
    assert advanced["state"] == "PLAYING"
    assert advanced["item"]["id"] == second["id"]
    assert advanced["positionSeconds"] == 0.0
    assert advanced["updatedBy"] is None  # automatic
    # It started a lead after the first one's end, not before.
    first_end = played["anchorServerTimeMs"] + 1500
    assert advanced["anchorServerTimeMs"] >= first_end + LEAD_MS

    ended = await wait_for_playback(any_api, party.id, token, lambda p: p["revision"] >= 4)
    assert ended["revision"] == 4
    assert ended["state"] == "ENDED"
    assert ended["item"]["id"] == second["id"]
    assert ended["positionSeconds"] == 1.0
    assert ended["anchorServerTimeMs"] >= advanced["anchorServerTimeMs"] + 1000

    # Nothing else happens afterwards; play restarts the ended item from 0.
    again = await playback_ok(any_api, "play", party.id, token)
    assert (again["state"], again["positionSeconds"], again["revision"]) == ("PLAYING", 0.0, 5)


async def test_a_pause_before_the_end_cancels_the_advance(any_api: Api) -> None:
    party = await create_party(any_api, media=SHORT)
    token = party.host.token
    await add_item(any_api, party, "Next", 1)
    await playback_ok(any_api, "play", party.id, token)
    paused = await playback_ok(any_api, "pause", party.id, token)
    assert paused["revision"] == 3
    # Resume and let the resumed play run out: only its job acts, once.
    resumed = await playback_ok(any_api, "play", party.id, token)
    advanced = await wait_for_playback(any_api, party.id, token, lambda p: p["revision"] >= 5)
    assert advanced["revision"] == 5
    assert advanced["item"]["title"] == "Next"
    assert advanced["anchorServerTimeMs"] >= resumed["anchorServerTimeMs"]


async def test_buffering_waits_and_resumes_when_everyone_is_ready(any_api: Api) -> None:
    party = await create_party(
        any_api,
        media={**SHORT, "durationSeconds": 600},
        waitForBuffering=True,
        bufferingTimeoutSeconds=30,
    )
    token = party.host.token
    alice = await member(any_api, party)
    bob = await member(any_api, party)
    played = await playback_ok(any_api, "play", party.id, token)

    before = now_ms()
    buffering = await report(any_api, party.id, alice.token, "BUFFERING", 0)
    after = now_ms()
    assert buffering["__typename"] == "ReportPlayerStatePayload", buffering
    assert buffering["revision"] == played["revision"] + 1
    playback = await wait_for_playback(any_api, party.id, token, lambda p: True)
    assert playback["state"] == "WAITING"
    assert playback["waitingFor"] == [{"id": alice.id}]
    between(playback["waitDeadlineMs"], before + 30_000, after + 30_000)
    between(playback["anchorServerTimeMs"], before, after)
    frozen = playback["positionSeconds"]

    both = await report(any_api, party.id, bob.token, "BUFFERING", 0)
    assert both["revision"] == played["revision"] + 2
    playback = await wait_for_playback(any_api, party.id, token, lambda p: True)
    assert sorted(u["id"] for u in playback["waitingFor"]) == sorted([alice.id, bob.id])
    between(playback["waitDeadlineMs"], before + 30_000, after + 30_000)  # deadline kept

    first_ready = await report(any_api, party.id, alice.token, "READY", frozen)
    assert first_ready["revision"] == played["revision"] + 3
    playback = await wait_for_playback(any_api, party.id, token, lambda p: True)
    assert playback["state"] == "WAITING"
    assert playback["waitingFor"] == [{"id": bob.id}]

    before = now_ms()
    last_ready = await report(any_api, party.id, bob.token, "READY", frozen)
    after = now_ms()
    assert last_ready["revision"] == played["revision"] + 4
    playback = await wait_for_playback(any_api, party.id, token, lambda p: True)
    assert playback["state"] == "PLAYING"
    assert playback["waitingFor"] == [] and playback["lagging"] == []
    assert playback["waitDeadlineMs"] is None
    assert playback["positionSeconds"] == frozen
    between(playback["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)

    # A READY from someone not waited for changes nothing.
    extra = await report(any_api, party.id, alice.token, "READY", frozen)
    assert extra["revision"] == played["revision"] + 4


async def test_the_wait_always_ends_at_the_timeout(any_api: Api) -> None:
    party = await create_party(
        any_api, media={**SHORT, "durationSeconds": 600}, bufferingTimeoutSeconds=1
    )
    token = party.host.token
    slow = await member(any_api, party)
    played = await playback_ok(any_api, "play", party.id, token)
    buffering = await report(any_api, party.id, slow.token, "BUFFERING", 0)
    assert buffering["revision"] == played["revision"] + 1

    resumed = await wait_for_playback(any_api, party.id, token, lambda p: p["state"] == "PLAYING")
    assert resumed["state"] == "PLAYING"
    assert resumed["revision"] == played["revision"] + 2
    assert resumed["lagging"] == [{"id": slow.id}]
    assert resumed["waitingFor"] == []
    assert resumed["updatedBy"] is None

    # The next change clears the lagging list.
    paused = await playback_ok(any_api, "pause", party.id, token)
    assert paused["lagging"] == []


async def test_no_wait_when_the_party_does_not_wait_or_the_member_ignores_it(
    any_api: Api,
) -> None:
    party = await create_party(any_api, media=SHORT, waitForBuffering=False)
    viewer = await member(any_api, party)
    played = await playback_ok(any_api, "play", party.id, party.host.token)
    answer = await report(any_api, party.id, viewer.token, "BUFFERING", 0)
    assert answer["revision"] == played["revision"]

    other = await create_party(any_api, media={**SHORT, "durationSeconds": 600})
    viewer = await member(any_api, other)
    ignored = await _ignore(any_api, other.id, viewer.token, viewer.id, True)
    assert ignored["__typename"] == "SetIgnoreWaitPayload"
    assert ignored["ignoreWait"] is True
    played = await playback_ok(any_api, "play", other.id, other.host.token)
    answer = await report(any_api, other.id, viewer.token, "BUFFERING", 0)
    assert answer["revision"] == played["revision"]


async def test_set_ignore_wait_releases_and_is_guarded(any_api: Api) -> None:
    party = await create_party(any_api, media={**SHORT, "durationSeconds": 600})
    token = party.host.token
    slow = await member(any_api, party)
    other = await member(any_api, party)
    played = await playback_ok(any_api, "play", party.id, token)
    await report(any_api, party.id, slow.token, "BUFFERING", 0)

    refused = await _ignore(any_api, party.id, other.token, slow.id, True)
    assert refused["__typename"] == "NotAllowed"
    unknown = await _ignore(any_api, party.id, token, "00000000-0000-0000-0000-000000000000", True)
    assert unknown["__typename"] == "NotFound"
    assert unknown["field"] == "userId"

    before = now_ms()
    released = await _ignore(any_api, party.id, token, slow.id, True)
    after = now_ms()
    assert released["__typename"] == "SetIgnoreWaitPayload"
    playback = released["playback"]
    assert playback["state"] == "PLAYING"
    assert playback["revision"] == played["revision"] + 2
    between(playback["anchorServerTimeMs"], before + LEAD_MS, after + LEAD_MS)


async def test_controls_during_a_wait(any_api: Api) -> None:
    party = await create_party(any_api, media={**SHORT, "durationSeconds": 600})
    token = party.host.token
    slow = await member(any_api, party)
    played = await playback_ok(any_api, "play", party.id, token)
    await report(any_api, party.id, slow.token, "BUFFERING", 0)
    forced = await playback_ok(any_api, "play", party.id, token)  # start without them
    assert forced["state"] == "PLAYING"
    assert forced["revision"] == played["revision"] + 2
    assert forced["lagging"] == [{"id": slow.id}]
    # The pending wait-timeout job finds nothing to do.
    paused = await control(any_api, "pause", party.id, token)
    assert paused["playback"]["revision"] == played["revision"] + 3


async def _ignore(api: Api, party_id: str, token: str, user_id: str, ignore: bool) -> dict:  # type: ignore[type-arg]
    result = await api.gql(
        """mutation($input: SetIgnoreWaitInput!) { setIgnoreWait(input: $input) {
            __typename
            ... on SetIgnoreWaitPayload { userId ignoreWait playback {
                state revision anchorServerTimeMs waitingFor { id } } }
            ... on UserError { code message field } } }""",
        {"input": {"partyId": party_id, "userId": user_id, "ignore": ignore}},
        token=token,
    )
    payload: dict = result.data["setIgnoreWait"]  # type: ignore[type-arg]
    return payload
