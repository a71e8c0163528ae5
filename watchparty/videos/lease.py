"""A processing run's hold on a video: claimed once, kept alive by a heartbeat, lost on delete.

`processing_attempts` is the lease token. Claiming a QUEUED video (or a PROCESSING one whose
heartbeat went stale: its worker died) increments it; every later write of the run is guarded by
`processing_attempts = <token> AND status = PROCESSING AND deleted_at IS NULL`. A write that
matches no row means the run lost the video (deleted, or taken over after it was presumed dead):
it raises `LeaseLost` and the run stops without touching anything else. So two copies of the
same job (ARQ re-running a dead worker's job, the sweeper's re-queue) never both write outputs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from watchparty.kit.time import utcnow
from watchparty.videos import progress
from watchparty.videos.models import Video, VideoProvider, VideoStatus
from watchparty.videos.notices import notify_processed
from watchparty.videos.progress import ProcessingChanged

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.state import AppState

AfterWrite = Callable[["UnitOfWork"], Awaitable[None]]

MAX_ATTEMPTS = 4  # runs of one video (ARQ retries and sweeper re-queues together)


class LeaseLost(Exception):
    """The video was deleted or another run took it over."""


@dataclass
class Lease:
    state: AppState
    video_id: uuid.UUID
    token: int
    original_key: str
    started_at: datetime
    stage: str | None = "PROBING"
    progress: float = 0.0
    finished_at: datetime | None = None
    status: VideoStatus = VideoStatus.PROCESSING
    error: str | None = None
    _published: ProcessingChanged | None = None

    def payload(self) -> ProcessingChanged:
        return progress.payload(
            self.video_id,
            status=self.status,
            stage=self.stage,
            progress=self.progress,
            error=self.error,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )

    async def write(self, then: AfterWrite | None = None, **values: Any) -> None:
        """Guarded update of the row (plus the heartbeat); `LeaseLost` when it is not ours.
        `then` runs in the same unit of work once the write matched."""
        statement = (
            update(Video)
            .where(
                Video.id == self.video_id,
                Video.processing_attempts == self.token,
                Video.status == VideoStatus.PROCESSING,
                Video.deleted_at.is_(None),
            )
            .values(processing_heartbeat_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        async with self.state.unit_of_work() as uow:
            result: Any = await uow.session.execute(statement)
            if result.rowcount != 1:
                raise LeaseLost(str(self.video_id))
            if then is not None:
                await then(uow)

    async def beat(self) -> None:
        await self.write(processing_progress=self.progress, processing_stage=self.stage)

    async def publish(self) -> None:
        """Publish the current state unless subscribers already have it."""
        current = self.payload()
        if current != self._published:
            self._published = current
            await progress.publish(self.state, current)

    async def enter(self, stage: str, at: float) -> None:
        self.stage, self.progress = stage, at
        await self.beat()
        await self.publish()

    async def finish(self, status: VideoStatus, error: str | None = None, **values: Any) -> None:
        """READY or FAILED: the run's last write (guarded like every other)."""
        now = utcnow()

        async def notify_owner(uow: UnitOfWork) -> None:
            await notify_processed(uow, self.video_id, status, error)

        await self.write(
            notify_owner,
            status=status,
            processing_stage=None,
            processing_progress=1.0 if status is VideoStatus.READY else self.progress,
            processing_error=error,
            processing_finished_at=now,
            **values,
        )
        self.status, self.stage, self.error, self.finished_at = status, None, error, now
        if status is VideoStatus.READY:
            self.progress = 1.0
        await self.publish()

    async def release(self, error: str | None = None) -> None:
        """Back to QUEUED for a retry (keeps the attempt count); `error` says what went wrong."""
        await self.write(status=VideoStatus.QUEUED, processing_stage=None, processing_error=error)
        self.status, self.stage, self.error = VideoStatus.QUEUED, None, error
        await self.publish()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a run did not claim the video (the job's result string)."""

    reason: str


async def claim(state: AppState, video_id: uuid.UUID) -> Lease | Refusal:
    """Take the video for one run, or say why not (already done, running elsewhere, deleted)."""
    stale_before = utcnow() - timedelta(seconds=state.settings.processing_stale_seconds)
    async with state.unit_of_work() as uow:
        video = await uow.session.scalar(
            select(Video).where(Video.id == video_id).with_for_update()
        )
        if video is None or video.deleted_at is not None:
            return Refusal("gone")
        if video.provider is not VideoProvider.UPLOAD or not video.original_key:
            return Refusal("not an upload")
        if video.status is VideoStatus.PROCESSING:
            beat = video.processing_heartbeat_at
            if beat is not None and beat >= stale_before:
                return Refusal("running elsewhere")
        elif video.status is not VideoStatus.QUEUED:
            return Refusal(f"status {video.status.value}")
        now = utcnow()
        if (video.processing_attempts or 0) >= MAX_ATTEMPTS:
            video.status = VideoStatus.FAILED
            video.processing_stage = None
            video.processing_error = (
                f"Processing did not finish after {MAX_ATTEMPTS} attempts; upload the file again."
            )
            video.processing_finished_at = now
            await notify_processed(uow, video.id, VideoStatus.FAILED, video.processing_error)
            gave_up = progress.processing_payload(video)
            uow.after_commit(lambda: progress.publish(state, gave_up))
            return Refusal("gave up")
        video.processing_attempts = (video.processing_attempts or 0) + 1
        video.status = VideoStatus.PROCESSING
        video.processing_stage = "PROBING"
        video.processing_progress = 0.0
        video.processing_error = None
        video.processing_started_at = now
        video.processing_finished_at = None
        video.processing_heartbeat_at = now
        lease = Lease(state, video.id, video.processing_attempts, video.original_key, now)
    await lease.publish()
    return lease
