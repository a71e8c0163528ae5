"""The owner's VIDEO_READY / VIDEO_FAILED notification, written in the unit of work that
settles the video (so it exists exactly when the status does)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from watchparty.db import UnitOfWork
from watchparty.notifications.models import NotificationKind, SubjectType
from watchparty.notifications.service import Subject, notify
from watchparty.videos.models import Video, VideoStatus


async def notify_processed(
    uow: UnitOfWork, video_id: uuid.UUID, status: VideoStatus, error: str | None
) -> None:
    """Tell the owner that processing finished (READY) or gave up (FAILED)."""
    row = (
        await uow.session.execute(select(Video.owner_id, Video.title).where(Video.id == video_id))
    ).one_or_none()
    if row is None:
        return
    owner_id, title = row
    kind = (
        NotificationKind.VIDEO_READY
        if status is VideoStatus.READY
        else NotificationKind.VIDEO_FAILED
    )
    data = {"videoId": str(video_id), "videoTitle": title}
    if error is not None:
        data["reason"] = error
    await notify(
        uow, [owner_id], kind, subject=Subject(SubjectType.VIDEO, str(video_id)), data=data
    )
