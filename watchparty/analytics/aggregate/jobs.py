"""Aggregation runs as `AnalyticsJob`s (kind AGGREGATE): the cron, the on-demand job and the
service the read side calls.

- `aggregate_analytics` (every minute): skips while another aggregation is RUNNING (started less
  than `STALE_AFTER` ago; an older one is marked FAILED: its worker died) and when no scope has
  events to read (no job row then); otherwise it creates a job (scope `all`, no owner) and runs
  it in place.
- `request_aggregation(uow, scope, owner_id)`: a QUEUED job, enqueued after the commit as
  `run_analytics_aggregation(analytics_job_id=...)` (job id `analytics-aggregate:<id>`).
- `run_job`: QUEUED -> RUNNING -> (each scope in its own transaction, progress after each) ->
  SUCCEEDED with `processed` = the most events a scope read, and each scope's figures in
  `params["result"]`; an error -> FAILED with the error (a cancelled run too: the worker's job
  timeout or shutdown). A job that is not QUEUED is left alone (ARQ may deliver twice).
- The cron also re-enqueues on-demand jobs still QUEUED after a minute (their enqueue was lost)
  and deletes finished aggregation jobs without an owner after `KEEP_FINISHED`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from watchparty.analytics import runs
from watchparty.analytics.aggregate.run import (
    ALL,
    SCOPES,
    ScopeRun,
    aggregate_scope,
    job_key,
    pending,
    scopes_of,
)
from watchparty.analytics.models import AnalyticsJob, JobKind, JobStatus
from watchparty.db import UnitOfWork
from watchparty.errors import ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.time import utcnow
from watchparty.state import AppState

log = logging.getLogger(__name__)

JOB = "run_analytics_aggregation"
STALE_AFTER = timedelta(minutes=15)
REQUEUE_AFTER = timedelta(minutes=1)
KEEP_FINISHED = timedelta(days=7)
REQUEST_SCOPES = (*SCOPES, ALL)


def lag_of(state: AppState) -> timedelta:
    return timedelta(seconds=state.settings.analytics_aggregation_lag_seconds)


async def request_aggregation(
    uow: UnitOfWork, scope: str, owner_id: uuid.UUID | None
) -> AnalyticsJob:
    """A QUEUED aggregation of `scope` (party, video, user, system or all), run by the worker
    after the commit."""
    if scope not in REQUEST_SCOPES:
        raise ValidationProblem(
            f"Unknown aggregation scope {scope!r}: {', '.join(REQUEST_SCOPES)}.", field="scope"
        )
    job = await runs.create(uow, JobKind.AGGREGATE, scope, owner_id=owner_id)
    enqueue_after_commit(
        uow, uow.app.jobs, JOB, job_id=job_key(job.id), analytics_job_id=str(job.id)
    )
    return job


async def run_analytics_aggregation(ctx: dict[str, Any], analytics_job_id: str) -> str:
    """The on-demand job: run the QUEUED job `analytics_job_id`."""
    job = await run_job(ctx["state"], uuid.UUID(analytics_job_id))
    return "missing" if job is None else job.status.value


async def _job(uow: UnitOfWork, job_id: uuid.UUID) -> AnalyticsJob | None:
    job: AnalyticsJob | None = await uow.session.scalar(
        select(AnalyticsJob).where(AnalyticsJob.id == job_id).with_for_update()
    )
    return job


async def run_job(state: AppState, job_id: uuid.UUID) -> AnalyticsJob | None:
    """Run a QUEUED aggregation job to SUCCEEDED or FAILED; the job as it ended."""
    async with state.unit_of_work() as uow:
        job = await _job(uow, job_id)
        if job is None or job.status is not JobStatus.QUEUED or job.kind is not JobKind.AGGREGATE:
            return job
        await runs.start(uow, job)
        scopes = scopes_of(job.scope)
    done: list[ScopeRun] = []
    try:
        for number, scope in enumerate(scopes, 1):
            done.append(
                await aggregate_scope(
                    state.sessionmaker,
                    scope,
                    lag=lag_of(state),
                    grace_days=state.settings.billing_past_due_grace_days,
                )
            )
            async with state.unit_of_work() as uow:
                job = await _job(uow, job_id)
                assert job is not None
                await runs.advance(uow, job, number / len(scopes), _processed(done))
        async with state.unit_of_work() as uow:
            job = await _job(uow, job_id)
            assert job is not None
            job.params = {**job.params, "result": [run.as_dict() for run in done]}
            await runs.succeed(uow, job, processed=_processed(done))
            return job
    except asyncio.CancelledError:
        await _fail(state, job_id, "interrupted: the run was cancelled (nothing of it was kept)")
        raise
    except Exception as exc:
        log.exception("analytics aggregation %s failed", job_id)
        return await _fail(state, job_id, f"{type(exc).__name__}: {exc}")


def _processed(done: list[ScopeRun]) -> int:
    return max((run.events for run in done), default=0)


async def _fail(state: AppState, job_id: uuid.UUID, error: str) -> AnalyticsJob | None:
    async with state.unit_of_work() as uow:
        job = await _job(uow, job_id)
        if job is not None and job.status not in runs.FINISHED:
            await runs.fail(uow, job, error)
        return job


async def aggregate_analytics(ctx: dict[str, Any]) -> str:
    """The cron (every minute): one `all` run unless one is running or nothing is new."""
    state: AppState = ctx["state"]
    now = utcnow()
    async with state.unit_of_work() as uow:
        await uow.session.execute(
            delete(AnalyticsJob).where(
                AnalyticsJob.kind == JobKind.AGGREGATE,
                AnalyticsJob.owner_id.is_(None),
                AnalyticsJob.status.in_(list(runs.FINISHED)),
                AnalyticsJob.created_at < now - KEEP_FINISHED,
            )
        )
        running = list(
            await uow.session.scalars(
                select(AnalyticsJob)
                .where(
                    AnalyticsJob.kind == JobKind.AGGREGATE,
                    AnalyticsJob.status == JobStatus.RUNNING,
                )
                .with_for_update()
            )
        )
        alive = False
        for job in running:
            if job.started_at is not None and job.started_at < now - STALE_AFTER:
                await runs.fail(uow, job, "abandoned: its worker stopped mid-run")
            else:
                alive = True
        lost = list(
            await uow.session.scalars(
                select(AnalyticsJob.id).where(
                    AnalyticsJob.kind == JobKind.AGGREGATE,
                    AnalyticsJob.status == JobStatus.QUEUED,
                    AnalyticsJob.created_at < now - REQUEUE_AFTER,
                )
            )
        )
    for job_id in lost:  # its enqueue was lost (Redis down): the same job id, so no duplicate
        await state.jobs.enqueue(JOB, job_id=job_key(job_id), analytics_job_id=str(job_id))
    if alive:
        return "skipped: an aggregation is running"
    if not await pending(state.sessionmaker, SCOPES, lag_of(state)):
        return "nothing new"
    async with state.unit_of_work() as uow:
        job = await runs.create(uow, JobKind.AGGREGATE, ALL)
    finished = await run_job(state, job.id)
    return "missing" if finished is None else finished.status.value
