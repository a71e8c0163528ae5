"""Uploads: `createVideoUpload` issues a signed URL, the REST shim (`watchparty.http.uploads`)
streams the bytes to storage, `completeVideoUpload` queues processing.

The upload URL carries a token (purpose "upload", subject the video id, see `signing.py`)
valid UPLOAD_URL_TTL_SECONDS; `renewVideoUpload` issues a fresh one for an unfinished upload.
Storage is the truth about what arrived (`Storage.size`); `received_bytes` mirrors it for
`Video.upload`. The declared size is a promise the shim enforces: never more bytes, and
completion needs exactly that many.

The mutations' services take the unit of work first, then the acting user's id
(`watchparty.db`). `record_received` is the shim's: the signed URL, not a signed-in user,
authorizes it.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.billing.gate import plan_of
from watchparty.billing.plans import Limit
from watchparty.config import Settings
from watchparty.db import UnitOfWork
from watchparty.errors import ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.time import utcnow
from watchparty.videos.errors import not_uploading, upload_incomplete
from watchparty.videos.models import (
    CONTENT_TYPE_MAX_LENGTH,
    FILENAME_MAX_LENGTH,
    Video,
    VideoProvider,
    VideoStatus,
    original_key,
)
from watchparty.videos.service import clean_video_title, load_owned
from watchparty.videos.signing import sign
from watchparty.videos.storage import get_storage

UPLOAD_PURPOSE = "upload"
PROCESS_JOB = "process_video"
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
ACCEPTED_TYPES = ("video/", "application/octet-stream")


@dataclass
class UploadTicket:
    video: Video
    url: str
    headers: dict[str, str]
    expires_at: datetime


def clean_filename(raw: str) -> str:
    # Browsers send a base name; some tools send a path: keep its last part only.
    name = PureWindowsPath(PurePosixPath(raw.strip()).name).name.strip()
    if not name or any(ord(c) < 32 for c in name):
        raise ValidationProblem("Give the file's name.", field="filename")
    if len(name) > FILENAME_MAX_LENGTH:
        raise ValidationProblem(f"At most {FILENAME_MAX_LENGTH} characters.", field="filename")
    return name


def clean_content_type(raw: str) -> str:
    value = raw.split(";", 1)[0].strip().lower()
    if len(value) > CONTENT_TYPE_MAX_LENGTH or not _MEDIA_TYPE.match(value):
        raise ValidationProblem("Give a media type such as video/mp4.", field="contentType")
    if not value.startswith(ACCEPTED_TYPES):
        raise ValidationProblem("Upload a video (video/*).", field="contentType")
    return value


def check_size(size: float, settings: Settings) -> int:
    if not float(size).is_integer() or size < 1:
        raise ValidationProblem("A whole, positive number of bytes.", field="sizeBytes")
    if size > settings.upload_max_bytes:
        raise ValidationProblem(
            f"At most {settings.upload_max_bytes} bytes.",
            field="sizeBytes",
            max_bytes=settings.upload_max_bytes,
        )
    return int(size)


def _ticket(settings: Settings, video: Video) -> UploadTicket:
    expires = int(time.time()) + settings.upload_url_ttl_seconds
    video.upload_expires_at = datetime.fromtimestamp(expires, UTC)
    token = sign(settings, UPLOAD_PURPOSE, str(video.id), expires)
    return UploadTicket(
        video=video,
        url=f"{settings.public_url.rstrip('/')}/uploads/{token}",
        headers={"Content-Type": video.content_type or "application/octet-stream"},
        expires_at=video.upload_expires_at,
    )


async def create_upload(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    title: str,
    filename: str,
    size_bytes: float,
    content_type: str,
) -> UploadTicket:
    """A new PRIVATE video of the viewer's, waiting for its bytes, and the URL to send them to.
    Within the viewer's plan: one upload at most UPLOAD_BYTES, and every upload they keep (not
    deleted, the declared sizes) at most STORAGE_BYTES, else `PlanLimitExceeded`."""
    settings = uow.app.settings
    clean = (clean_video_title(title), clean_filename(filename), clean_content_type(content_type))
    size = check_size(size_bytes, settings)
    plan = await plan_of(uow.session, settings, viewer_id, lock=True)
    if plan is not None:
        plan.require(Limit.UPLOAD_BYTES, size, field="sizeBytes")
        stored = await stored_bytes(uow.session, viewer_id)
        plan.require(Limit.STORAGE_BYTES, stored + size, field="sizeBytes")
    video_id = uuid.uuid4()
    video = Video(
        id=video_id,
        owner_id=viewer_id,
        title=clean[0],
        status=VideoStatus.UPLOADING,
        provider=VideoProvider.UPLOAD,
        filename=clean[1],
        content_type=clean[2],
        size_bytes=size,
        received_bytes=0,
        original_key=original_key(video_id),
        renditions=[],
    )
    ticket = _ticket(settings, video)
    uow.session.add(video)
    await uow.session.flush()
    return ticket


async def stored_bytes(session: AsyncSession, owner_id: uuid.UUID) -> int:
    """What `owner_id`'s uploads take (declared sizes of the videos not deleted, unfinished
    uploads included: their bytes are on their way)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Video.size_bytes), 0)).where(
            Video.owner_id == owner_id,
            Video.provider == VideoProvider.UPLOAD,
            Video.deleted_at.is_(None),
        )
    )
    return int(total or 0)


async def renew_upload(uow: UnitOfWork, viewer_id: uuid.UUID, video_id: str) -> UploadTicket:
    """A fresh URL for an unfinished upload (the bytes that arrived are kept)."""
    video = await load_owned(uow.session, video_id, viewer_id, field="videoId")
    if video.status is not VideoStatus.UPLOADING:
        raise not_uploading(video.status.value)
    ticket = _ticket(uow.app.settings, video)
    await uow.session.flush()
    return ticket


async def complete_upload(uow: UnitOfWork, viewer_id: uuid.UUID, video_id: str) -> Video:
    """Queue processing once every declared byte arrived. Completing twice is harmless."""
    video = await load_owned(uow.session, video_id, viewer_id, field="videoId")
    if video.status in (VideoStatus.QUEUED, VideoStatus.PROCESSING, VideoStatus.READY):
        return video
    if video.status is not VideoStatus.UPLOADING or video.original_key is None:
        raise not_uploading(video.status.value)
    received = await get_storage(uow.app).size(video.original_key) or 0
    declared = video.size_bytes or 0
    if received != declared:
        raise upload_incomplete(received, declared)
    video.received_bytes = received
    video.status = VideoStatus.QUEUED
    video.upload_expires_at = None  # the upload URL stops working
    video.processing_progress = 0.0
    video.processing_error = None
    await uow.session.flush()
    enqueue_after_commit(
        uow,
        uow.app.jobs,
        PROCESS_JOB,
        job_id=f"{PROCESS_JOB}:{video.id}:{video.processing_attempts}",
        video_id=str(video.id),
    )
    tracking.track(uow, "video.upload", user_id=viewer_id, video_id=video.id, bytes=received)
    return video


async def record_received(uow: UnitOfWork, video_id: uuid.UUID, received: int) -> None:
    """Mirror the stored size after a PUT (only while the video still waits for its upload)."""
    await uow.session.execute(
        update(Video)
        .where(Video.id == video_id, Video.status == VideoStatus.UPLOADING)
        .values(received_bytes=received, updated_at=utcnow())
    )
