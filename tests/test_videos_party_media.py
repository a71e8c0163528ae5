"""Library videos in a party's queue (`media: {videoId}`): who may put which video there."""

from __future__ import annotations

from tests.playback_ops import create_party, member, queue_op
from tests.support import Api
from tests.videos_ops import ready_video, start_upload, video_error, video_query

QUEUE_FIELDS = "title url durationSeconds"


async def add_video(api: Api, party_id: str, token: str, video_id: str, **media: object) -> dict:
    return await queue_op(api, "addToQueue", party_id, token, media={"videoId": video_id, **media})


async def test_owner_queues_a_private_video_and_members_may_see_it(any_api: Api) -> None:
    party = await create_party(any_api)
    video_id = await ready_video(any_api, party.host.token, title="Our trip")
    viewer = await member(any_api, party)
    outsider = await member(any_api, await create_party(any_api))
    assert await video_query(any_api, video_id, viewer.token, "id") is None

    result = await add_video(any_api, party.id, party.host.token, video_id)
    assert result["__typename"] == "QueuePayload", result
    item = result["queue"][-1]
    assert (item["title"], item["url"], item["durationSeconds"]) == ("Our trip", None, 4.5)
    queued = await any_api.gql(
        "query($id: ID!) { party(id: $id) { queue { videoId title } } }",
        {"id": party.id},
        token=viewer.token,
    )
    assert queued.data["party"]["queue"][-1] == {"videoId": video_id, "title": "Our trip"}
    # Queued in their party: members see it (to play it); others still do not.
    assert await video_query(any_api, video_id, viewer.token, "id title") == {
        "id": video_id,
        "title": "Our trip",
    }
    assert await video_query(any_api, video_id, outsider.token, "id") is None
    assert await video_query(any_api, video_id, None, "id") is None

    renamed = await add_video(any_api, party.id, party.host.token, video_id, title=" Again ")
    assert renamed["queue"][-1]["title"] == "Again"


async def test_nobody_can_give_a_party_a_video_they_may_not_see(any_api: Api) -> None:
    party = await create_party(any_api, controlPolicy="EVERYONE")
    viewer = await member(any_api, party)
    private = await ready_video(any_api, party.host.token)
    unlisted = await ready_video(any_api, party.host.token, visibility="UNLISTED")
    not_found = video_error("NotFound", "NOT_FOUND", "No such video.", "media.videoId")

    assert await add_video(any_api, party.id, viewer.token, private) == not_found
    for bad in ("nonsense", "00000000-0000-0000-0000-000000000000"):
        assert await add_video(any_api, party.id, viewer.token, bad) == not_found
    allowed = await add_video(any_api, party.id, viewer.token, unlisted)
    assert allowed["__typename"] == "QueuePayload"
    assert allowed["queue"][-1]["title"] == "Holiday"


async def test_only_ready_videos_and_not_both_sources(any_api: Api) -> None:
    party = await create_party(any_api)
    uploading = (await start_upload(any_api, party.host.token, 10))["video"]["id"]
    result = await add_video(any_api, party.id, party.host.token, uploading)
    assert result == video_error(
        "ValidationError", "VALIDATION", "This video is not ready to play yet.", "media.videoId"
    )
    ready = await ready_video(any_api, party.host.token)
    both = await add_video(
        any_api, party.id, party.host.token, ready, url="https://example.com/a.mp4"
    )
    assert both == video_error(
        "ValidationError", "VALIDATION", "Give either a url or a videoId, not both.", "media.url"
    )
