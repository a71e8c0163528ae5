"""Processing progress: the `videoProcessing` payload and its channel.

The row is the truth (`video.processing` reads it at any time); the job also publishes each change
as an ephemeral event on `video:<id>` so subscribers see progress without polling. Ephemeral
events are best effort: the subscription re-reads the row when the channel stays quiet, so a lost
message (or a worker that died) never leaves a client waiting on a stale state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from watchparty.videos.models import Video, VideoStatus

if TYPE_CHECKING:
    from watchparty.state import AppState

EVENT_TYPE = "VideoProcessing"
DELETED_TYPE = "VideoDeleted"  # ends the subscription: nothing more will happen
FINAL_STATUSES = frozenset({VideoStatus.READY.value, VideoStatus.FAILED.value})


def video_channel(video_id: uuid.UUID | str) -> str:
    return f"video:{video_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def processing_payload(video: Video) -> dict[str, Any]:
    """The processing state of `video` as a JSON payload (GraphQL field names)."""
    return payload(
        video.id,
        status=VideoStatus(video.status),
        stage=video.processing_stage,
        progress=video.processing_progress,
        error=video.processing_error,
        started_at=video.processing_started_at,
        finished_at=video.processing_finished_at,
    )


def payload(
    video_id: uuid.UUID,
    *,
    status: VideoStatus,
    stage: str | None,
    progress: float | None,
    error: str | None,
    started_at: datetime | None,
    finished_at: datetime | None,
) -> dict[str, Any]:
    return {
        "type": EVENT_TYPE,
        "videoId": str(video_id),
        "status": status.value,
        "stage": stage,
        "progress": round(float(progress or 0.0), 4),
        "error": error,
        "startedAt": _iso(started_at),
        "finishedAt": _iso(finished_at),
    }


def is_final(payload: dict[str, Any]) -> bool:
    return payload.get("status") in FINAL_STATUSES


async def publish(state: AppState, payload: dict[str, Any]) -> None:
    """Best effort fan-out to `videoProcessing` subscribers in every process."""
    await state.hub.publish_ephemeral(video_channel(payload["videoId"]), payload)


async def publish_deleted(state: AppState, video_id: uuid.UUID) -> None:
    await state.hub.publish_ephemeral(
        video_channel(video_id), {"type": DELETED_TYPE, "videoId": str(video_id)}
    )
