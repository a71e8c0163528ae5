"""GraphQL documents and helpers shared by the tests/test_videos_*.py files."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update

from tests.support import Api
from watchparty.videos.models import Video, VideoStatus

ERRORS = "... on UserError { code message field }"
VIDEO = (
    "id title description status visibility premiumOnly durationSeconds width height createdAt "
    "owner { id } processing { status stage progress error startedAt finishedAt } "
    "source { provider externalId url embedUrl isLive } renditions { height bitrateKbps } "
    "upload { filename contentType sizeBytes receivedBytes expiresAt }"
)
UPLOAD_PAYLOAD = (
    f"... on VideoUploadPayload {{ video {{ {VIDEO} }} uploadUrl "
    "uploadHeaders { name value } expiresAt }"
)
MUTATIONS: dict[str, tuple[str, str]] = {
    "createVideoUpload": ("CreateVideoUploadInput", UPLOAD_PAYLOAD),
    "renewVideoUpload": ("VideoIdInput", UPLOAD_PAYLOAD),
    "completeVideoUpload": ("VideoIdInput", f"... on VideoPayload {{ video {{ {VIDEO} }} }}"),
    "updateVideo": ("UpdateVideoInput", f"... on VideoPayload {{ video {{ {VIDEO} }} }}"),
    "deleteVideo": ("DeleteVideoInput", "... on DeleteVideoPayload { deletedVideoId }"),
}


async def video_mutate(
    api: Api, name: str, token: str | None = None, **input: Any
) -> dict[str, Any]:
    input_type, selection = MUTATIONS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        f"{selection} {ERRORS} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=token)
    payload: dict[str, Any] = result.data[name]
    return payload


async def start_upload(
    api: Api, token: str, size: int, *, title: str = "Holiday", content_type: str = "video/mp4"
) -> dict[str, Any]:
    payload = await video_mutate(
        api,
        "createVideoUpload",
        token,
        title=title,
        filename="holiday.mp4",
        sizeBytes=size,
        contentType=content_type,
    )
    assert payload["__typename"] == "VideoUploadPayload", payload
    return payload


def upload_path(payload: dict[str, Any]) -> str:
    """The path of the signed upload URL (the test client talks to the app directly)."""
    return urlsplit(payload["uploadUrl"]).path


async def uploaded(api: Api, token: str, data: bytes, **kw: Any) -> dict[str, Any]:
    """A video whose bytes all arrived and whose upload is completed (QUEUED)."""
    payload = await start_upload(api, token, len(data), **kw)
    response = await api.client.put(upload_path(payload), content=data)
    assert response.status_code == 200, response.text
    done = await video_mutate(api, "completeVideoUpload", token, videoId=payload["video"]["id"])
    assert done["__typename"] == "VideoPayload", done
    video: dict[str, Any] = done["video"]
    return video


async def video_query(api: Api, video_id: str, token: str | None, fields: str = VIDEO) -> Any:
    result = await api.gql(
        f"query($id: ID!) {{ video(id: $id) {{ {fields} }} }}", {"id": video_id}, token=token
    )
    return result.data["video"]


async def force_status(api: Api, video_id: str, status: VideoStatus, **values: Any) -> None:
    """Put a video in a state processing would (tests of the library, not of processing)."""
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(Video).where(Video.id == uuid.UUID(video_id)).values(status=status, **values)
        )


async def ready_video(
    api: Api, token: str, *, visibility: str = "PRIVATE", title: str = "Holiday"
) -> str:
    """An uploaded video made READY (4.5 s long), with the given visibility."""
    payload = await start_upload(api, token, 3, title=title)
    video_id: str = payload["video"]["id"]
    await force_status(api, video_id, VideoStatus.READY, duration_seconds=4.5)
    if visibility != "PRIVATE":
        result = await video_mutate(api, "updateVideo", token, id=video_id, visibility=visibility)
        assert result["__typename"] == "VideoPayload", result
    return video_id


def video_error(typename: str, code: str, message: str, field: str | None) -> dict[str, Any]:
    return {"__typename": typename, "code": code, "message": message, "field": field}
