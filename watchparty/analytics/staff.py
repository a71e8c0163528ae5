"""The staff role (GraphQL-free): who reads the system's figures and runs aggregations.

`users.is_staff` is set only from the command line (`watchparty user grant-staff EMAIL`,
`revoke-staff EMAIL`, `analytics/cli.py`), never through the API. Staff may read `systemStats`,
export SYSTEM and request an aggregation run (`runAnalyticsAggregation`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.analytics import runs
from watchparty.analytics.models import AnalyticsJob, JobKind
from watchparty.db import UnitOfWork
from watchparty.errors import NotAllowed, NotFound, ValidationProblem
from watchparty.jobs import enqueue_after_commit

AGGREGATE_JOB = "aggregate_analytics"
# What an on-demand run aggregates: every scope, or one (the aggregation's watermark scopes).
AGGREGATION_SCOPES = ("all", "party", "video", "user", "system")


async def set_staff(session: AsyncSession, email: str, staff: bool) -> User:
    """Grant or revoke the role; NotFound for an unknown address (the caller commits)."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No account uses {email.strip()!r}.", field="email")
    user.is_staff = staff
    await session.flush()
    return user


def require_staff(viewer: User) -> None:
    if not viewer.is_staff:
        raise NotAllowed("Only staff may do that.")


async def request_aggregation(uow: UnitOfWork, scope: str, owner_id: uuid.UUID) -> AnalyticsJob:
    """A QUEUED aggregation run requested by `owner_id` (staff), its ARQ job enqueued after the
    commit.

    LEAD: the aggregation branch (`analytics/aggregate/`) owns `request_aggregation` and the
    `aggregate_analytics` job; this thin one creates the row and enqueues the job by name, with
    the row's id as `analytics_job_id` (`job_id` is `enqueue`'s own keyword: ARQ's dedupe id).
    Keep one at merge."""
    if scope not in AGGREGATION_SCOPES:
        raise ValidationProblem(
            f"`scope` is one of {', '.join(AGGREGATION_SCOPES)}.", field="scope"
        )
    job = await runs.create(uow, JobKind.AGGREGATE, scope, owner_id=owner_id)
    enqueue_after_commit(
        uow,
        uow.app.jobs,
        AGGREGATE_JOB,
        job_id=f"{AGGREGATE_JOB}:{job.id}",
        analytics_job_id=str(job.id),
    )
    return job
