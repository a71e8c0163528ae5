"""The `videoProcessing(videoId)` subscription (see `processing_stream.py`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from watchparty.context import Info
from watchparty.videos.models import VideoStatus
from watchparty.videos.processing_stream import processing_stream
from watchparty.videos.progress import ProcessingChanged
from watchparty.videos.types import VideoProcessing


def _from_event(event: ProcessingChanged) -> VideoProcessing:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return VideoProcessing(
        status=VideoStatus(event.status),
        stage=event.stage,
        progress=float(event.progress or 0.0),
        error=event.error,
        started_at=when(event.started_at),
        finished_at=when(event.finished_at),
    )


@strawberry.type
class ProcessingSubscriptions:
    @strawberry.subscription(
        description="Processing of your upload: the current state first, then each change of "
        "status, stage and progress; completes after READY or FAILED. Owner only."
    )
    async def video_processing(
        self, info: Info, video_id: strawberry.ID
    ) -> AsyncGenerator[VideoProcessing, None]:
        viewer = await info.context.viewer()
        stream = processing_stream(
            info.context.state, str(video_id), None if viewer is None else viewer.id
        )
        try:
            async for event in stream:
                yield _from_event(event)
        finally:
            await stream.aclose()
