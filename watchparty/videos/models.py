"""The video library: uploaded files and external sources, one row per video.

Columns are shared by three parts of the domain: the library and upload (`service.py`,
`upload.py`), processing (`tasks.py`, which fills metadata, outputs and processing state) and
streaming (`urls.py`, `external.py`). Enumerations are VARCHAR(20) columns holding member names,
as in `watchparty.parties.models`.

`deleted_at` doubles as the cancellation flag: a processing job re-reads the row between stages
and stops when it is set; the stored files are removed by `remove_video_files`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.kit.time import utcnow

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000
FILENAME_MAX_LENGTH = 255
CONTENT_TYPE_MAX_LENGTH = 100
KEY_MAX_LENGTH = 500
URL_MAX_LENGTH = 2000


class VideoStatus(StrEnum):
    UPLOADING = "UPLOADING"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class VideoVisibility(StrEnum):
    PUBLIC = "PUBLIC"
    UNLISTED = "UNLISTED"  # anyone with the id; never listed
    PRIVATE = "PRIVATE"  # exists only for its owner


class VideoProvider(StrEnum):
    UPLOAD = "UPLOAD"
    YOUTUBE = "YOUTUBE"
    VIMEO = "VIMEO"
    TWITCH = "TWITCH"
    MP4 = "MP4"
    HLS = "HLS"


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=False, length=20)


def original_key(video_id: uuid.UUID | str) -> str:
    """Storage key of the uploaded file."""
    return f"videos/{video_id}/original"


def video_prefix(video_id: uuid.UUID | str) -> str:
    """Storage prefix holding every file of the video (original, thumbnail, HLS output)."""
    return f"videos/{video_id}/"


class Video(IdMixin, TimestampMixin, Base):
    __tablename__ = "videos"
    __table_args__ = (
        Index("ix_videos_owner_created", "owner_id", "created_at"),
        # The processing sweeper looks for QUEUED and PROCESSING videos every 10 s.
        Index("ix_videos_status", "status"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[VideoStatus] = mapped_column(_enum(VideoStatus), default=VideoStatus.UPLOADING)
    visibility: Mapped[VideoVisibility] = mapped_column(
        _enum(VideoVisibility), default=VideoVisibility.PRIVATE
    )
    premium_only: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Source: UPLOAD for uploaded files, otherwise an external provider (see external.py).
    provider: Mapped[VideoProvider] = mapped_column(
        _enum(VideoProvider), default=VideoProvider.UPLOAD
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    source_url: Mapped[str | None] = mapped_column(String(URL_MAX_LENGTH))
    embed_url: Mapped[str | None] = mapped_column(String(URL_MAX_LENGTH))
    is_live: Mapped[bool] = mapped_column(default=False)  # a Twitch live channel

    # Upload (see upload.py): declared size, bytes stored so far, when the signed URL expires.
    filename: Mapped[str | None] = mapped_column(String(FILENAME_MAX_LENGTH))
    content_type: Mapped[str | None] = mapped_column(String(CONTENT_TYPE_MAX_LENGTH))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_expires_at: Mapped[datetime | None]
    original_key: Mapped[str | None] = mapped_column(String(KEY_MAX_LENGTH))

    # Metadata (filled by processing from ffprobe, or by the oEmbed job for external sources).
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    video_codec: Mapped[str | None] = mapped_column(String(50))
    audio_codec: Mapped[str | None] = mapped_column(String(50))
    frame_rate: Mapped[float | None] = mapped_column(Double)
    bitrate_kbps: Mapped[int | None] = mapped_column(Integer)

    # Outputs: [{"height": 720, "bitrateKbps": 2800, "playlistKey": "videos/<id>/hls/720p/..."}]
    thumbnail_key: Mapped[str | None] = mapped_column(String(KEY_MAX_LENGTH))
    hls_master_key: Mapped[str | None] = mapped_column(String(KEY_MAX_LENGTH))
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    # Processing state (owned by tasks.py); the heartbeat lets the sweeper find dead jobs.
    processing_stage: Mapped[str | None] = mapped_column(String(30))
    processing_progress: Mapped[float] = mapped_column(Double, default=0.0)  # 0..1
    processing_error: Mapped[str | None] = mapped_column(Text)
    processing_started_at: Mapped[datetime | None]
    processing_finished_at: Mapped[datetime | None]
    processing_heartbeat_at: Mapped[datetime | None]
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)

    deleted_at: Mapped[datetime | None]  # soft delete; also cancels processing in flight
