"""The `videoProcessing(videoId)` subscription (see `processing_stream.py`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry

from watchparty.context import Info
from watchparty.videos.models import VideoStatus
from watchparty.videos.processing_stream import processing_stream
from watchparty.videos.types import VideoProcessing


def _from_payload(payload: dict[str, Any]) -> VideoProcessing:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return VideoProcessing(
        status=VideoStatus(payload["status"]),
        stage=payload.get("stage"),
        progress=float(payload.get("progress") or 0.0),
        error=payload.get("error"),
        started_at=when(payload.get("startedAt")),
        finished_at=when(payload.get("finishedAt")),
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
            async for payload in stream:
                yield _from_payload(payload)
        finally:
            await stream.aclose()
