"""Playback gated by plan (billing on): renditions above 720p for plans processing 1080p,
premium-only videos for plans with premium videos; and the processing ladder cut at the owner's
plan. The video rows and files are made the way processing leaves them (no ffmpeg needed)."""

from __future__ import annotations

import uuid
from urllib.parse import urljoin

from tests.billing_support import billing_api, subscribe
from tests.parties_ops import Person, person
from tests.support import Api
from tests.test_videos_urls import MEDIA, SEGMENT, _chunks, fetch, ready_video, video_as
from watchparty.billing.models import PlanId
from watchparty.videos.ffmpeg import ladder
from watchparty.videos.models import Video, VideoVisibility
from watchparty.videos.storage import get_storage
from watchparty.videos.tasks import within_plan

__all__ = ["billing_api"]

MASTER = (
    b"#EXTM3U\n#EXT-X-VERSION:3\n"
    b"#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720\n720p/index.m3u8\n"
    b"#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080\n1080p/index.m3u8\n"
)
CAPPED = (
    b"#EXTM3U\n#EXT-X-VERSION:3\n"
    b"#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720\n720p/index.m3u8\n"
)


async def tall_video(api: Api, owner_id: str, **extra: object) -> str:
    """A READY PUBLIC video with 720p and 1080p renditions."""
    video_id = await ready_video(
        api, Person("", owner_id, "Owner"), VideoVisibility.PUBLIC, **extra
    )
    prefix = f"videos/{video_id}/"
    async with api.state.unit_of_work() as uow:
        row = await uow.session.get(Video, uuid.UUID(video_id))
        assert row is not None
        row.renditions = [
            {"height": h, "bitrateKbps": k, "playlistKey": f"{prefix}hls/{h}p/index.m3u8"}
            for h, k in ((720, 2800), (1080, 5000))
        ]
    storage = get_storage(api.state)
    await storage.write(prefix + "hls/master.m3u8", _chunks(MASTER))
    for height in (720, 1080):
        await storage.write(f"{prefix}hls/{height}p/index.m3u8", _chunks(MEDIA))
        await storage.write(f"{prefix}hls/{height}p/seg_00001.ts", _chunks(SEGMENT))
    return video_id


async def test_renditions_above_720p_need_a_plan_processing_1080p(billing_api: Api) -> None:
    owner = await person(billing_api, "Owner")
    free = await person(billing_api, "Free")
    plus = await person(billing_api, "Plus")
    await subscribe(billing_api, plus, PlanId.PLUS)
    video_id = await tall_video(billing_api, owner.id)

    full = await video_as(billing_api, video_id, plus)
    assert (await fetch(billing_api, full["hlsUrl"])).content == MASTER
    assert [(r["height"], r["url"] is not None) for r in full["renditions"]] == [
        (720, True),
        (1080, True),
    ]
    for who in (free, owner, None):  # the owner's plan is FREE too; anonymous: capped
        capped = await video_as(billing_api, video_id, who)
        master = await fetch(billing_api, capped["hlsUrl"])
        assert (master.status_code, master.content) == (200, CAPPED)
        assert [(r["height"], r["url"] is not None) for r in capped["renditions"]] == [
            (720, True),
            (1080, False),
        ]
        tall = await fetch(billing_api, urljoin(capped["hlsUrl"], "1080p/index.m3u8"))
        assert tall.status_code == 403
        low = await fetch(billing_api, urljoin(capped["hlsUrl"], "720p/seg_00001.ts"))
        assert (low.status_code, low.content) == (200, SEGMENT)


async def test_premium_only_videos_play_for_premium_plans_and_the_owner(billing_api: Api) -> None:
    owner = await person(billing_api, "Owner")
    free = await person(billing_api, "Free")
    plus = await person(billing_api, "Plus")
    await subscribe(billing_api, plus, PlanId.PLUS)
    video_id = await tall_video(billing_api, owner.id, premium_only=True)
    for who in (free, None):
        refused = await video_as(billing_api, video_id, who)
        assert refused["id"] == video_id  # visible, not playable
        assert (refused["hlsUrl"], refused["thumbnailUrl"]) == (None, None)
        assert [r["url"] for r in refused["renditions"]] == [None, None]
    for who in (plus, owner):
        played = await video_as(billing_api, video_id, who)
        assert played["hlsUrl"] is not None and played["thumbnailUrl"] is not None


async def test_premium_only_plays_for_everyone_when_billing_is_off(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    video_id = await tall_video(any_api, owner.id, premium_only=True)
    for who in (await person(any_api, "Viewer"), None):
        video = await video_as(any_api, video_id, who)
        assert (await fetch(any_api, video["hlsUrl"])).content == MASTER


def test_the_processing_ladder_stops_at_the_plans_height() -> None:
    heights = [1080, 720, 480]
    assert within_plan(heights, None) == heights  # billing off
    assert within_plan(heights, 720) == [720, 480]  # FREE
    assert within_plan(heights, 1080) == heights  # PLUS, PREMIUM
    assert within_plan([1080], 720) == [720]  # never taller than the plan
    assert [r.height for r in ladder(1080, within_plan(heights, 720))] == [720, 480]
    assert [r.height for r in ladder(2160, within_plan([2160, 1080], 720))] == [720]
