"""The queue over GraphQL: order after add / move / remove, the cap, and its effect on playback."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.playback_ops import (
    URL_ITEM,
    add_item,
    create_party,
    playback_ok,
    queue_op,
    read_party,
)
from tests.support import Api, make_settings, running_app


def titles(queue: list[dict[str, Any]]) -> list[str]:
    assert [item["position"] for item in queue] == list(range(len(queue)))
    return [item["title"] for item in queue]


async def test_add_move_remove_keep_order(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    await add_item(any_api, party, "B", 100)
    await add_item(any_api, party, "C")
    added = await queue_op(
        any_api,
        "addToQueue",
        party.id,
        token,
        media={"url": "https://videos.example.com/a/Zero%20Hour.mp4?x=1"},
        position=0,
    )
    queue = added["queue"]
    assert titles(queue) == ["Zero Hour.mp4", "First", "B", "C"]  # title from the URL
    assert queue[0]["url"] == "https://videos.example.com/a/Zero%20Hour.mp4?x=1"
    assert queue[0]["addedBy"] == {"id": party.host.id}
    assert queue[0]["durationSeconds"] is None
    # Adding did not touch the playback: still paused at "First".
    assert added["playback"]["item"]["title"] == "First"
    assert added["playback"]["revision"] == 1

    past_end = await queue_op(
        any_api,
        "addToQueue",
        party.id,
        token,
        media={"url": "https://x.example/d.m3u8"},
        position=99,
    )
    assert titles(past_end["queue"]) == ["Zero Hour.mp4", "First", "B", "C", "d.m3u8"]

    ids = {item["title"]: item["id"] for item in past_end["queue"]}
    moved = await queue_op(any_api, "moveQueueItem", party.id, token, itemId=ids["C"], position=0)
    assert titles(moved["queue"]) == ["C", "Zero Hour.mp4", "First", "B", "d.m3u8"]
    moved = await queue_op(any_api, "moveQueueItem", party.id, token, itemId=ids["C"], position=50)
    assert titles(moved["queue"]) == ["Zero Hour.mp4", "First", "B", "d.m3u8", "C"]

    removed = await queue_op(any_api, "removeFromQueue", party.id, token, itemId=ids["B"])
    assert titles(removed["queue"]) == ["Zero Hour.mp4", "First", "d.m3u8", "C"]
    assert (await read_party(any_api, party.id, token))["queue"] == removed["queue"]

    gone = await queue_op(any_api, "removeFromQueue", party.id, token, itemId=ids["B"])
    assert gone["__typename"] == "NotFound"
    assert gone["field"] == "itemId"
    negative = await queue_op(
        any_api, "moveQueueItem", party.id, token, itemId=ids["C"], position=-1
    )
    assert negative["__typename"] == "ValidationError"
    assert negative["field"] == "position"


async def test_bad_media_is_refused(any_api: Api) -> None:
    party = await create_party(any_api)
    token = party.host.token
    cases = [
        ({"url": "ftp://files.example.com/a.mp4"}, "media.url"),
        ({"url": "https://e.example/" + "a" * 2100}, "media.url"),
        ({"url": "https://e.example/a.mp4", "title": "t" * 241}, "media.title"),
        ({"url": "https://e.example/a.mp4", "durationSeconds": -5}, "media.durationSeconds"),
    ]
    for media, field in cases:
        answer = await queue_op(any_api, "addToQueue", party.id, token, media=media)
        assert answer["__typename"] == "ValidationError", (media, answer)
        assert answer["field"] == field
    assert (await read_party(any_api, party.id, token))["queue"] == []


async def test_first_item_of_an_idle_party_becomes_current_paused(any_api: Api) -> None:
    party = await create_party(any_api)
    assert party.playback["state"] == "IDLE"
    added = await add_item(any_api, party, "Only", 50)
    playback = added["playback"]
    assert playback["state"] == "PAUSED"
    assert playback["item"]["id"] == added["queue"][0]["id"]
    assert playback["positionSeconds"] == 0.0
    assert playback["revision"] == 1


async def test_removing_the_current_item_moves_on_or_clears(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    token = party.host.token
    second = (await add_item(any_api, party, "Second", 300))["queue"][1]
    playing = await playback_ok(any_api, "play", party.id, token)
    assert playing["revision"] == 2

    removed = await queue_op(
        any_api, "removeFromQueue", party.id, token, itemId=party.queue[0]["id"]
    )
    playback = removed["playback"]
    assert playback["item"]["id"] == second["id"]
    assert playback["state"] == "PLAYING"  # it was playing: the next one plays
    assert playback["positionSeconds"] == 0.0
    assert playback["revision"] == 3

    cleared = await queue_op(any_api, "removeFromQueue", party.id, token, itemId=second["id"])
    assert cleared["queue"] == []
    assert cleared["playback"]["state"] == "IDLE"
    assert cleared["playback"]["item"] is None
    assert cleared["playback"]["revision"] == 4


async def test_queue_is_capped(tmp: Any) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp)
    async with running_app(settings) as api:
        party = await create_party(api, media=URL_ITEM)
        token = party.host.token
        for n in range(199):
            answer = await queue_op(
                api, "addToQueue", party.id, token, media={"url": f"https://e.example/{n}.mp4"}
            )
            assert answer["__typename"] == "QueuePayload", answer
        assert len(answer["queue"]) == 200
        full = await queue_op(
            api, "addToQueue", party.id, token, media={"url": "https://e.example/over.mp4"}
        )
        assert full["__typename"] == "ValidationError"
        assert full["message"] == "The queue is full (200 items at most)."
        assert len((await read_party(api, party.id, token))["queue"]) == 200


async def test_concurrent_additions_keep_a_gapless_order(any_api: Api) -> None:
    party = await create_party(any_api, media=URL_ITEM)
    names = [f"clip{n}" for n in range(6)]
    answers = await asyncio.gather(
        *(
            queue_op(
                any_api,
                "addToQueue",
                party.id,
                party.host.token,
                media={"url": f"https://e.example/{name}.mp4"},
                position=1,
            )
            for name in names
        )
    )
    assert all(a["__typename"] == "QueuePayload" for a in answers)
    queue = (await read_party(any_api, party.id, party.host.token))["queue"]
    assert titles(queue)[0] == "First"
    assert sorted(titles(queue)[1:]) == [f"{name}.mp4" for name in names]
    assert max(len(a["queue"]) for a in answers) == 7
