"""Library videos as party media (`media: {videoId}` in createParty and addToQueue).

Whoever puts a video into a party must be able to see it: its owner (any visibility, so an
owner can share a PRIVATE video with one party), or anyone for a PUBLIC or UNLISTED video. A
video someone may not see is NotFound, exactly like a missing one. Only READY videos can be
played. The queue item copies the title (unless one is given) and the duration.

Once queued, the video is visible to the party's active members (`visible_through_party`), so
they can read `video(id)` and get its signed URLs (see `urls.may_play`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import NotFound, ValidationProblem
from watchparty.parties.models import MemberStatus, Party, PartyMember, QueueItem
from watchparty.parties.validation import MEDIA_TITLE_MAX_LENGTH, Media
from watchparty.videos.models import Video, VideoStatus
from watchparty.videos.service import load_visible, parse_video_id


async def library_media(
    session: AsyncSession, viewer_id: uuid.UUID, media: Media, prefix: str = "media"
) -> Media:
    assert media.video_id is not None
    field = f"{prefix}.videoId"
    video = await load_visible(session, media.video_id, viewer_id, field=field)
    if video.status is not VideoStatus.READY:
        raise ValidationProblem("This video is not ready to play yet.", field=field)
    title = " ".join((media.title or "").split()) or video.title[:MEDIA_TITLE_MAX_LENGTH]
    if len(title) > MEDIA_TITLE_MAX_LENGTH:
        raise ValidationProblem(
            f"At most {MEDIA_TITLE_MAX_LENGTH} characters.", field=f"{prefix}.title"
        )
    return Media(
        url=video.source_url,  # external sources keep their URL; uploads play by videoId
        video_id=str(video.id),
        title=title,
        duration_seconds=video.duration_seconds,
    )


async def visible_through_party(
    session: AsyncSession, viewer_id: uuid.UUID, video_id: uuid.UUID
) -> bool:
    """Whether the viewer is an active member of a (not deleted) party queuing the video."""
    found = await session.scalar(
        select(
            exists().where(
                QueueItem.video_id == video_id,
                PartyMember.party_id == QueueItem.party_id,
                PartyMember.user_id == viewer_id,
                PartyMember.status == MemberStatus.ACTIVE,
                Party.id == QueueItem.party_id,
                Party.deleted_at.is_(None),
            )
        )
    )
    return bool(found)


async def load_readable(session: AsyncSession, video_id: str, viewer_id: uuid.UUID | None) -> Video:
    """What `video(id)` shows: a visible video, or one queued in a party of the viewer."""
    try:
        return await load_visible(session, video_id, viewer_id)
    except NotFound:
        if viewer_id is None:
            raise
        video = await session.get(Video, parse_video_id(video_id))
        if video is None or video.deleted_at is not None:
            raise
        if not await visible_through_party(session, viewer_id, video.id):
            raise
        return video
