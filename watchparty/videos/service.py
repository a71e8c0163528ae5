"""The library's rules: who sees a video, updating, deleting and listing one's videos.

Visibility: a PRIVATE video exists only for its owner; PUBLIC and UNLISTED ones can be seen by
anyone with the id (UNLISTED are never listed). A deleted video exists for nobody. Services take
the unit of work first, then the acting user's id (`watchparty.db`), and only flush; the unit
commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.db import UnitOfWork
from watchparty.errors import ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.pagination import decode_time_cursor, time_cursor
from watchparty.kit.time import utcnow
from watchparty.videos.errors import owner_only, video_not_found
from watchparty.videos.models import (
    DESCRIPTION_MAX_LENGTH,
    TITLE_MAX_LENGTH,
    Video,
    VideoStatus,
    VideoVisibility,
)

REMOVE_FILES_JOB = "remove_video_files"


def parse_video_id(raw: str, field: str = "id") -> uuid.UUID:
    """A malformed id is reported like a missing video."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise video_not_found(field) from None


def may_see(video: Video, viewer_id: uuid.UUID | None) -> bool:
    if video.deleted_at is not None:
        return False
    return video.owner_id == viewer_id or video.visibility is not VideoVisibility.PRIVATE


async def load_visible(
    session: AsyncSession,
    video_id: str,
    viewer_id: uuid.UUID | None,
    *,
    field: str = "id",
    for_update: bool = False,
) -> Video:
    query = select(Video).where(Video.id == parse_video_id(video_id, field))
    if for_update:
        query = query.with_for_update()
    video = await session.scalar(query)
    if video is None or not may_see(video, viewer_id):
        raise video_not_found(field)
    return video


async def load_owned(
    session: AsyncSession, video_id: str, viewer_id: uuid.UUID, *, field: str = "id"
) -> Video:
    """The viewer's own video (locked); NotAllowed for someone else's visible video."""
    video = await load_visible(session, video_id, viewer_id, field=field, for_update=True)
    if video.owner_id != viewer_id:
        raise owner_only()
    return video


def clean_video_title(raw: str, field: str = "title") -> str:
    title = " ".join(raw.split())
    if not title:
        raise ValidationProblem("Give the video a title.", field=field)
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationProblem(f"At most {TITLE_MAX_LENGTH} characters.", field=field)
    return title


def clean_video_description(raw: str) -> str | None:
    description = raw.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ValidationProblem(
            f"At most {DESCRIPTION_MAX_LENGTH} characters.", field="description"
        )
    return description or None


async def update_video(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    video_id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    visibility: VideoVisibility | None = None,
    premium_only: bool | None = None,
) -> Video:
    """Change what is given (None: unchanged; an empty description clears it)."""
    video = await load_owned(uow.session, video_id, viewer_id, field="id")
    if title is not None:
        video.title = clean_video_title(title)
    if description is not None:
        video.description = clean_video_description(description)
    if visibility is not None:
        video.visibility = visibility
    if premium_only is not None:
        video.premium_only = premium_only
    await uow.session.flush()
    return video


async def delete_video(uow: UnitOfWork, viewer_id: uuid.UUID, video_id: str) -> uuid.UUID:
    """Soft delete. `deleted_at` also tells a running processing job to stop; the stored files
    are removed by a job once this commits (idempotent: deleting twice is NotFound)."""
    video = await load_owned(uow.session, video_id, viewer_id, field="id")
    video.deleted_at = utcnow()
    if video.status in (VideoStatus.UPLOADING, VideoStatus.QUEUED, VideoStatus.PROCESSING):
        video.processing_error = "Deleted."
    await uow.session.flush()
    enqueue_after_commit(
        uow,
        uow.app.jobs,
        REMOVE_FILES_JOB,
        job_id=f"{REMOVE_FILES_JOB}:{video.id}",
        video_id=str(video.id),
    )
    return video.id


@dataclass
class VideoPage:
    videos: list[Video]
    cursors: list[str]
    has_next_page: bool


def _cursor(video: Video) -> str:
    return time_cursor(video.created_at, video.id)


async def my_videos(
    session: AsyncSession, owner_id: uuid.UUID, first: int, after: str | None
) -> VideoPage:
    """The owner's videos (every status and visibility), newest first."""
    query = select(Video).where(Video.owner_id == owner_id, Video.deleted_at.is_(None))
    key = decode_time_cursor(after)
    if key is not None:
        created, last_id = key
        query = query.where(
            or_(
                Video.created_at < created,
                and_(Video.created_at == created, Video.id < last_id),
            )
        )
    query = query.order_by(Video.created_at.desc(), Video.id.desc()).limit(first + 1)
    rows = list(await session.scalars(query))
    page = rows[:first]
    return VideoPage(page, [_cursor(v) for v in page], len(rows) > first)
