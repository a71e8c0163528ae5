"""Signed media URLs through GraphQL: who gets `hlsUrl`/`thumbnailUrl`/`Rendition.url`, and the
URLs really play (master playlist -> rendition playlist -> segment, relative URLs resolved the
way a player resolves them).

The video row and its files are made here the way processing leaves them (READY, HLS output
in storage), so these tests do not need ffmpeg.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from tests.parties_ops import Person, create_party, joined, mutate, person
from tests.playback_ops import queue_op
from tests.support import Api
from watchparty.videos.models import Video, VideoProvider, VideoStatus, VideoVisibility
from watchparty.videos.storage import get_storage

SEGMENT = b"\x47" + bytes(187) * 3  # three TS packets' worth
MASTER = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240\n240p/index.m3u8\n"
MEDIA = b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n"

QUERY = """query($id: ID!) { video(id: $id) {
    id hlsUrl thumbnailUrl renditions { height bitrateKbps url }
} }"""


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def ready_video(api: Api, owner: Person, visibility: VideoVisibility, **extra: Any) -> str:
    video_id = uuid.uuid4()
    prefix = f"videos/{video_id}/"
    async with api.state.unit_of_work() as uow:
        uow.session.add(
            Video(
                id=video_id,
                owner_id=uuid.UUID(owner.id),
                title="Sample",
                status=VideoStatus.READY,
                visibility=visibility,
                provider=VideoProvider.UPLOAD,
                hls_master_key=prefix + "hls/master.m3u8",
                thumbnail_key=prefix + "thumb.jpg",
                renditions=[
                    {
                        "height": 240,
                        "bitrateKbps": 400,
                        "playlistKey": prefix + "hls/240p/index.m3u8",
                    }
                ],
                **extra,
            )
        )
    storage = get_storage(api.state)
    for path, data in {
        "hls/master.m3u8": MASTER,
        "hls/240p/index.m3u8": MEDIA,
        "hls/240p/seg_00001.ts": SEGMENT,
        "thumb.jpg": b"\xff\xd8thumb",
    }.items():
        await storage.write(prefix + path, _chunks(data))
    return str(video_id)


async def fetch(api: Api, url: str) -> Any:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == api.settings.public_url
    return await api.client.get(parts.path)


async def video_as(api: Api, video_id: str, who: Person | None) -> Any:
    result = await api.gql(QUERY, {"id": video_id}, token=None if who is None else who.token)
    return result.data["video"]


async def test_owner_plays_master_rendition_segment_and_thumbnail(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    video_id = await ready_video(any_api, owner, VideoVisibility.PRIVATE)
    video = await video_as(any_api, video_id, owner)
    assert video["hlsUrl"].endswith("/hls/master.m3u8")
    master = await fetch(any_api, video["hlsUrl"])
    assert (master.status_code, master.content) == (200, MASTER)
    child = urljoin(video["hlsUrl"], "240p/index.m3u8")  # what hls.js does with the master
    media = await fetch(any_api, child)
    assert (media.status_code, media.content) == (200, MEDIA)
    segment = await fetch(any_api, urljoin(child, "seg_00001.ts"))
    assert (segment.status_code, segment.headers["content-type"], segment.content) == (
        200,
        "video/mp2t",
        SEGMENT,
    )
    [rendition] = video["renditions"]
    assert (rendition["height"], rendition["bitrateKbps"]) == (240, 400)
    assert rendition["url"] == child  # the same token: one per video prefix
    thumb = await fetch(any_api, video["thumbnailUrl"])
    assert (thumb.status_code, thumb.content) == (200, b"\xff\xd8thumb")
    # The thumbnail token opens the thumbnail only; the HLS token does not open the original.
    thumb_token = urlsplit(video["thumbnailUrl"]).path.split("/")[2]
    refused = await any_api.client.get(f"/media/{thumb_token}/hls/master.m3u8")
    assert refused.status_code == 403
    hls_token = urlsplit(video["hlsUrl"]).path.split("/")[2]
    refused = await any_api.client.get(f"/media/{hls_token}/original")
    assert refused.status_code == 403


async def test_who_gets_urls(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    stranger = await person(any_api, "Stranger")
    for visibility in (VideoVisibility.PUBLIC, VideoVisibility.UNLISTED):
        video_id = await ready_video(any_api, owner, visibility)
        for who in (owner, stranger, None):
            video = await video_as(any_api, video_id, who)
            assert video["hlsUrl"] is not None, (visibility, who)
            assert video["thumbnailUrl"] is not None
            assert video["renditions"][0]["url"] is not None
    private_id = await ready_video(any_api, owner, VideoVisibility.PRIVATE)
    assert await video_as(any_api, private_id, stranger) is None
    assert await video_as(any_api, private_id, None) is None


async def test_no_urls_before_ready(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    for status in (VideoStatus.UPLOADING, VideoStatus.PROCESSING, VideoStatus.FAILED):
        video_id = await ready_video(any_api, owner, VideoVisibility.PUBLIC)
        async with any_api.state.unit_of_work() as uow:
            row = await uow.session.get(Video, uuid.UUID(video_id))
            assert row is not None
            row.status = status
        video = await video_as(any_api, video_id, owner)
        assert video["hlsUrl"] is None, status
        assert video["renditions"][0]["url"] is None


async def test_party_members_get_urls_of_a_private_queued_video(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    member = await person(any_api, "Member")
    stranger = await person(any_api, "Stranger")
    video_id = await ready_video(any_api, owner, VideoVisibility.PRIVATE)
    party = await create_party(any_api, owner)
    await joined(any_api, member, code=party["code"])
    assert await video_as(any_api, video_id, member) is None  # not before it is queued
    queued = await queue_op(
        any_api, "addToQueue", party["id"], owner.token, media={"videoId": video_id}
    )
    assert queued["__typename"] == "QueuePayload", queued
    video = await video_as(any_api, video_id, member)
    master = await fetch(any_api, video["hlsUrl"])
    assert (master.status_code, master.content) == (200, MASTER)
    assert video["renditions"][0]["url"] is not None
    assert await video_as(any_api, video_id, stranger) is None
    left = await mutate(any_api, "leaveParty", member.token, partyId=party["id"])
    assert left["__typename"] == "LeavePartyPayload"
    assert await video_as(any_api, video_id, member) is None


# Premium gating (a plan's cap on renditions, premium-only videos) is billing's: see
# tests/test_billing_videos.py.
