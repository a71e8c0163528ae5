"""GraphQL types of the video library.

`Video` wraps the row; URL fields are computed by `urls.py` (signed, only for a viewer who may
play the video). Upload details are shown to the owner only. Sizes are Floats: GraphQL's Int is
32-bit and JavaScript numbers hold whole bytes exactly up to 2^53.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.pagination import PageInfo
from watchparty.videos import models
from watchparty.videos.models import VideoProvider, VideoStatus, VideoVisibility

strawberry.enum(VideoStatus, description="UPLOADING, QUEUED, PROCESSING, then READY or FAILED.")
strawberry.enum(
    VideoVisibility,
    description="PUBLIC and UNLISTED: anyone with the id (UNLISTED is never listed); PRIVATE: "
    "the owner only (and members of parties the owner queued it in).",
)
strawberry.enum(VideoProvider, description="UPLOAD for uploaded files, else the external source.")


@strawberry.type(description="Where processing of an upload stands.")
class VideoProcessing:
    status: VideoStatus
    stage: str | None = strawberry.field(
        description="PROBING, THUMBNAIL, TRANSCODING or FINALIZING while PROCESSING."
    )
    progress: float = strawberry.field(description="0..1.")
    error: str | None = strawberry.field(description="Why it FAILED, in words.")
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_model(cls, video: models.Video) -> VideoProcessing:
        return cls(
            status=video.status,
            stage=video.processing_stage,
            progress=video.processing_progress,
            error=video.processing_error,
            started_at=video.processing_started_at,
            finished_at=video.processing_finished_at,
        )


@strawberry.type(description="One HLS rendition; url is null beyond the viewer's plan.")
class Rendition:
    height: int
    bitrate_kbps: int | None
    _video: strawberry.Private[models.Video]
    _data: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="Signed playlist URL of this rendition alone (expires).")
    async def url(self, info: Info) -> str | None:
        from watchparty.videos import urls

        return await urls.rendition_url(info, self._video, self._data)


@strawberry.type(description="Where the video comes from.")
class VideoSource:
    provider: VideoProvider
    external_id: str | None
    url: str | None = strawberry.field(description="The external page or file; null for uploads.")
    embed_url: str | None
    is_live: bool = strawberry.field(description="A live Twitch channel.")


@strawberry.type(description="An upload's state, for resuming it. The owner only.")
class VideoUpload:
    filename: str | None
    content_type: str | None
    size_bytes: float | None = strawberry.field(description="Declared size.")
    received_bytes: float = strawberry.field(description="Bytes stored so far.")
    expires_at: datetime | None = strawberry.field(description="When the upload URL expires.")


@strawberry.type(description="A video of the library: an upload or an external source.")
class Video:
    id: strawberry.ID
    title: str
    description: str | None
    status: VideoStatus
    visibility: VideoVisibility
    premium_only: bool
    duration_seconds: float | None
    width: int | None
    height: int | None
    created_at: datetime
    _video: strawberry.Private[models.Video]

    @classmethod
    def from_model(cls, video: models.Video) -> Video:
        return cls(
            id=strawberry.ID(str(video.id)),
            title=video.title,
            description=video.description,
            status=video.status,
            visibility=video.visibility,
            premium_only=video.premium_only,
            duration_seconds=video.duration_seconds,
            width=video.width,
            height=video.height,
            created_at=video.created_at,
            _video=video,
        )

    @strawberry.field
    def processing(self) -> VideoProcessing:
        return VideoProcessing.from_model(self._video)

    @strawberry.field
    def source(self) -> VideoSource:
        v = self._video
        return VideoSource(
            provider=v.provider,
            external_id=v.external_id,
            url=v.source_url,
            embed_url=v.embed_url,
            is_live=v.is_live,
        )

    @strawberry.field(description="Available renditions, lowest first.")
    def renditions(self) -> list[Rendition]:
        rows = sorted(self._video.renditions or [], key=lambda r: int(r.get("height") or 0))
        return [
            Rendition(
                height=int(r.get("height") or 0),
                bitrate_kbps=r.get("bitrateKbps"),
                _video=self._video,
                _data=r,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Signed URL of the HLS master playlist (expires); null until "
        "READY or when the viewer may not play the video."
    )
    async def hls_url(self, info: Info) -> str | None:
        from watchparty.videos import urls

        return await urls.hls_url(info, self._video)

    @strawberry.field(description="Signed thumbnail URL (uploads) or the provider's thumbnail.")
    async def thumbnail_url(self, info: Info) -> str | None:
        from watchparty.videos import urls

        return await urls.thumbnail_url(info, self._video)

    @strawberry.field(description="Null only if that account is gone.")
    async def owner(self, info: Info) -> User | None:
        user = await user_loader_of(info.context.loaders).load(self._video.owner_id)
        return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)

    @strawberry.field(description="The upload's state; the owner only, null for others.")
    def upload(self, info: Info) -> VideoUpload | None:
        v = self._video
        if v.provider is not VideoProvider.UPLOAD or info.context.viewer_id != v.owner_id:
            return None
        return VideoUpload(
            filename=v.filename,
            content_type=v.content_type,
            size_bytes=None if v.size_bytes is None else float(v.size_bytes),
            received_bytes=float(v.received_bytes),
            expires_at=v.upload_expires_at if v.status is VideoStatus.UPLOADING else None,
        )


@strawberry.type
class VideoEdge:
    node: Video
    cursor: str


@strawberry.type
class VideoConnection:
    edges: list[VideoEdge]
    page_info: PageInfo


@strawberry.type(description="A header the upload PUT must carry.")
class UploadHeader:
    name: str
    value: str


@strawberry.type(description="PUT the file's bytes to uploadUrl, then call completeVideoUpload.")
class VideoUploadPayload:
    video: Video
    upload_url: str = strawberry.field(
        description="Signed, expiring. PUT the bytes; HEAD tells how many arrived (Upload-Offset)"
        "; resume with the header Upload-Offset: n (or Content-Range: bytes n-m/total)."
    )
    upload_headers: list[UploadHeader]
    expires_at: datetime


@strawberry.type
class VideoPayload:
    video: Video


@strawberry.type
class DeleteVideoPayload:
    deleted_video_id: strawberry.ID


@strawberry.input
class CreateVideoUploadInput:
    title: str = strawberry.field(description="1-200 characters.")
    filename: str = strawberry.field(description="The file's name, at most 255 characters.")
    size_bytes: float = strawberry.field(description="Exact size, at most UPLOAD_MAX_BYTES.")
    content_type: str = strawberry.field(description="video/* (or application/octet-stream).")


@strawberry.input
class VideoIdInput:
    video_id: strawberry.ID


@strawberry.input(description="Only the given fields change.")
class UpdateVideoInput:
    id: strawberry.ID
    title: str | None = strawberry.field(default=None, description="1-200 characters.")
    description: str | None = strawberry.field(
        default=None, description="At most 5000 characters; an empty string clears it."
    )
    visibility: VideoVisibility | None = None
    premium_only: bool | None = None


@strawberry.input
class DeleteVideoInput:
    id: strawberry.ID
