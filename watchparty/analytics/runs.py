"""The life of an `AnalyticsJob` row (an aggregation run or an export): created QUEUED, RUNNING
with progress, then SUCCEEDED or FAILED. Every change is recorded on the job's channel in the
same transaction (`events.AnalyticsJobChanged`), so `analyticsJobProgress(id)` sees exactly what
the row says. A job advances once per batch it commits (callers keep that to a few a second).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from watchparty.analytics.events import AnalyticsJobChanged, job_channel
from watchparty.analytics.models import AnalyticsJob, JobKind, JobStatus
from watchparty.db import UnitOfWork
from watchparty.events import record
from watchparty.kit.time import utcnow

ERROR_MAX_LENGTH = 500

FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


def job_payload(job: AnalyticsJob) -> dict[str, Any]:
    """What a job's event carries (the row's public fields, JSON-ready)."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": str(job.id),
        "kind": job.kind.value,
        "scope": job.scope,
        "status": job.status.value,
        "progress": job.progress,
        "processed": job.processed,
        "error": job.error,
        "hasFile": job.file_key is not None,
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
    }


async def _changed(uow: UnitOfWork, job: AnalyticsJob) -> None:
    await uow.session.flush()
    await record(uow, job_channel(job.id), AnalyticsJobChanged(job_payload(job)))


async def create(
    uow: UnitOfWork,
    kind: JobKind,
    scope: str,
    *,
    owner_id: uuid.UUID | None = None,
    target_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
) -> AnalyticsJob:
    """A new QUEUED job (the caller enqueues its ARQ job after the commit)."""
    job = AnalyticsJob(
        id=uuid.uuid4(),
        kind=kind,
        scope=scope,
        owner_id=owner_id,
        target_id=target_id,
        params=params or {},
        status=JobStatus.QUEUED,
        progress=0.0,
        processed=0,
        created_at=utcnow(),
    )
    uow.session.add(job)
    await _changed(uow, job)
    return job


async def start(uow: UnitOfWork, job: AnalyticsJob) -> None:
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    job.progress = 0.0
    job.error = None
    await _changed(uow, job)


async def advance(uow: UnitOfWork, job: AnalyticsJob, progress: float, processed: int) -> None:
    """Progress (0..1) and the count handled so far."""
    job.progress = max(0.0, min(1.0, progress))
    job.processed = processed
    await _changed(uow, job)


async def succeed(
    uow: UnitOfWork, job: AnalyticsJob, *, processed: int, file_key: str | None = None
) -> None:
    job.status = JobStatus.SUCCEEDED
    job.progress = 1.0
    job.processed = processed
    job.file_key = file_key
    job.finished_at = utcnow()
    await _changed(uow, job)


async def fail(uow: UnitOfWork, job: AnalyticsJob, error: str) -> None:
    job.status = JobStatus.FAILED
    job.error = error[:ERROR_MAX_LENGTH]
    job.finished_at = utcnow()
    await _changed(uow, job)
