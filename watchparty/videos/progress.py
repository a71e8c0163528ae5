"""Processing progress: the `videoProcessing` payload and its channel.

The row is the truth (`video.processing` reads it at any time); the job also publishes each change
as an ephemeral event on `video:<id>` so subscribers see progress without polling. Ephemeral
events are best effort: the subscription re-reads the row when the channel stays quiet, so a lost
message (or a worker that died) never leaves a client waiting on a stale state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from watchparty import events
from watchparty.events import Event, channel_of, register
from watchparty.videos.models import Video, VideoStatus

if TYPE_CHECKING:
    from watchparty.state import AppState

FINAL_STATUSES = frozenset({VideoStatus.READY.value, VideoStatus.FAILED.value})


def video_channel(video_id: uuid.UUID | str) -> str:
    return channel_of("video", video_id)


@register("videos.processing_changed", stored=False, legacy="VideoProcessing")
@dataclass(frozen=True, slots=True)
class ProcessingChanged(Event):
    """A video's processing state (times as ISO 8601 strings)."""

    video_id: str
    status: str
    stage: str | None
    progress: float
    error: str | None
    started_at: str | None
    finished_at: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


@register("videos.deleted", stored=False, legacy="VideoDeleted")
@dataclass(frozen=True, slots=True)
class VideoDeleted(Event):
    """Ends the subscription: nothing more will happen."""

    video_id: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def processing_payload(video: Video) -> ProcessingChanged:
    """The processing state of `video`."""
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
) -> ProcessingChanged:
    return ProcessingChanged(
        video_id=str(video_id),
        status=status.value,
        stage=stage,
        progress=round(float(progress or 0.0), 4),
        error=error,
        started_at=_iso(started_at),
        finished_at=_iso(finished_at),
    )


async def publish(state: AppState, current: ProcessingChanged) -> None:
    """Best effort fan-out to `videoProcessing` subscribers in every process."""
    await events.publish(state.hub, video_channel(current.video_id), current)


async def publish_deleted(state: AppState, video_id: uuid.UUID) -> None:
    await events.publish(state.hub, video_channel(video_id), VideoDeleted(str(video_id)))
