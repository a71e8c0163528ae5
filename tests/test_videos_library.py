"""The library over GraphQL: video(id), myVideos, updateVideo, deleteVideo and who may do what."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.parties_ops import Person, person
from tests.support import Api
from tests.videos_ops import (
    force_status,
    ready_video,
    start_upload,
    upload_path,
    video_error,
    video_mutate,
    video_query,
)
from watchparty.videos.models import VideoStatus, original_key
from watchparty.videos.storage import get_storage

NOT_FOUND = video_error("NotFound", "NOT_FOUND", "No such video.", "id")
NOT_ALLOWED = video_error("NotAllowed", "NOT_ALLOWED", "Only the video's owner can do this.", None)
NOT_AUTHENTICATED = video_error(
    "NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in.", None
)


async def visible_to(api: Api, video_id: str, who: Person | None) -> bool:
    found = await video_query(api, video_id, None if who is None else who.token, "id")
    return found is not None


@pytest.mark.parametrize("visibility", ["PRIVATE", "UNLISTED", "PUBLIC"])
async def test_visibility_matrix(any_api: Api, visibility: str) -> None:
    owner, stranger = await person(any_api, "Owner"), await person(any_api, "Stranger")
    video_id = await ready_video(any_api, owner.token, visibility=visibility)
    public = visibility != "PRIVATE"
    assert await visible_to(any_api, video_id, owner)
    assert await visible_to(any_api, video_id, stranger) is public
    assert await visible_to(any_api, video_id, None) is public
    seen = await video_query(any_api, video_id, stranger.token, "upload { filename }")
    assert seen == ({"upload": None} if public else None)

    update = await video_mutate(any_api, "updateVideo", stranger.token, id=video_id, title="Mine")
    assert update == (NOT_ALLOWED if public else NOT_FOUND)
    delete = await video_mutate(any_api, "deleteVideo", stranger.token, id=video_id)
    assert delete == (NOT_ALLOWED if public else NOT_FOUND)
    complete = await video_mutate(any_api, "completeVideoUpload", stranger.token, videoId=video_id)
    expected = NOT_ALLOWED if public else {**NOT_FOUND, "field": "videoId"}
    assert complete == expected
    anonymous = await video_mutate(any_api, "updateVideo", None, id=video_id, title="Mine")
    assert anonymous == NOT_AUTHENTICATED
    assert (await video_query(any_api, video_id, owner.token, "title"))["title"] == "Holiday"


async def test_unknown_and_malformed_ids(any_api: Api) -> None:
    owner = await person(any_api)
    assert await video_query(any_api, "not-an-id", owner.token, "id") is None
    missing = "00000000-0000-0000-0000-000000000000"
    assert await video_query(any_api, missing, owner.token, "id") is None
    assert await video_mutate(any_api, "updateVideo", owner.token, id="x", title="T") == NOT_FOUND
    assert await video_mutate(any_api, "deleteVideo", owner.token, id=missing) == NOT_FOUND


async def test_update_video(any_api: Api) -> None:
    owner = await person(any_api)
    video_id = await ready_video(any_api, owner.token)
    result = await video_mutate(
        any_api,
        "updateVideo",
        owner.token,
        id=video_id,
        title="  Summer  2026 ",
        description=" At the lake ",
        visibility="UNLISTED",
        premiumOnly=True,
    )
    video = result["video"]
    assert (video["title"], video["description"], video["visibility"], video["premiumOnly"]) == (
        "Summer 2026",
        "At the lake",
        "UNLISTED",
        True,
    )
    cleared = await video_mutate(any_api, "updateVideo", owner.token, id=video_id, description="")
    assert (cleared["video"]["title"], cleared["video"]["description"]) == ("Summer 2026", None)
    assert cleared["video"]["visibility"] == "UNLISTED"
    for change, message, field in [
        ({"title": " "}, "Give the video a title.", "title"),
        ({"title": "x" * 201}, "At most 200 characters.", "title"),
        ({"description": "x" * 5001}, "At most 5000 characters.", "description"),
    ]:
        result = await video_mutate(any_api, "updateVideo", owner.token, id=video_id, **change)
        assert result == video_error("ValidationError", "VALIDATION", message, field)


async def test_my_videos_pages_newest_first(any_api: Api) -> None:
    owner, other = await person(any_api), await person(any_api)
    ids = [await ready_video(any_api, owner.token, title=f"V{i}") for i in range(3)]
    await ready_video(any_api, other.token)
    query = """query($first: Int, $after: String) { myVideos(first: $first, after: $after) {
        edges { cursor node { id title } } pageInfo { hasNextPage endCursor } } }"""
    first = (await any_api.gql(query, {"first": 2}, token=owner.token)).data["myVideos"]
    assert [e["node"]["title"] for e in first["edges"]] == ["V2", "V1"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = (await any_api.gql(query, {"first": 2, "after": after}, token=owner.token)).data
    assert [e["node"]["id"] for e in rest["myVideos"]["edges"]] == [ids[0]]
    assert rest["myVideos"]["pageInfo"]["hasNextPage"] is False
    assert (await any_api.gql(query, {}, token=None)).data == {"myVideos": None}
    bad = await any_api.gql(query, {"after": "garbage"}, token=owner.token)
    assert bad.body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_delete_hides_the_video_and_removes_its_files(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, 4)
    video_id = payload["video"]["id"]
    assert (await any_api.client.put(upload_path(payload), content=b"abcd")).status_code == 200
    storage = get_storage(any_api.state)
    assert await storage.size(original_key(video_id)) == 4

    result = await video_mutate(any_api, "deleteVideo", owner.token, id=video_id)
    assert result == {"__typename": "DeleteVideoPayload", "deletedVideoId": video_id}
    assert await video_query(any_api, video_id, owner.token, "id") is None
    listed = await any_api.gql("{ myVideos { edges { node { id } } } }", token=owner.token)
    assert listed.data["myVideos"]["edges"] == []
    assert await video_mutate(any_api, "deleteVideo", owner.token, id=video_id) == NOT_FOUND
    assert await removed(any_api, original_key(video_id))


async def removed(api: Api, key: str) -> bool:
    """The file-removal job ran (in-process or on the ARQ worker)."""
    storage = get_storage(api.state)
    for _ in range(200):
        await api.drain_jobs()
        if await storage.size(key) is None:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_processing_and_renditions_fields(any_api: Api) -> None:
    owner = await person(any_api)
    video_id = await ready_video(any_api, owner.token)
    renditions: list[dict[str, Any]] = [
        {
            "height": 720,
            "bitrateKbps": 2800,
            "playlistKey": f"videos/{video_id}/hls/720p/index.m3u8",
        },
        {
            "height": 360,
            "bitrateKbps": 800,
            "playlistKey": f"videos/{video_id}/hls/360p/index.m3u8",
        },
    ]
    await force_status(
        any_api,
        video_id,
        VideoStatus.READY,
        renditions=renditions,
        width=1280,
        height=720,
        processing_progress=1.0,
    )
    video = await video_query(any_api, video_id, owner.token)
    assert video["renditions"] == [
        {"height": 360, "bitrateKbps": 800},
        {"height": 720, "bitrateKbps": 2800},
    ]
    assert (video["width"], video["height"], video["durationSeconds"]) == (1280, 720, 4.5)
    assert video["processing"] == {
        "status": "READY",
        "stage": None,
        "progress": 1.0,
        "error": None,
        "startedAt": None,
        "finishedAt": None,
    }
