"""Analytics' GraphQL face: the dashboards (`Party.analytics`, `Video.analytics`, `User.stats`,
`User.isStaff`, `systemStats`), exports and jobs (`requestAnalyticsExport`, `analyticsJob`,
`analyticsJobProgress`) and the staff's `runAnalyticsAggregation`. Thin: authorize, check the
range, call `reading` / `exports` / `staff`, map.

Read fields follow the other restricted fields: null for whoever may not read them (a party's
analytics unless host or co-host, a video's unless its owner, a user's stats unless it is the
viewer). Query fields have no error union, so a bad range or bucket is a GraphQL error at the
field's path with `extensions.code` VALIDATION and `extensions.field` the argument, and
`systemStats` answers NOT_AUTHENTICATED / NOT_ALLOWED the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from watchparty.accounts.types import User
from watchparty.analytics import exports, reading, staff
from watchparty.analytics.aggregate.jobs import request_aggregation
from watchparty.analytics.events import AnalyticsJobChanged, job_channel
from watchparty.analytics.models import AnalyticsJob as JobRow
from watchparty.analytics.models import ExportScope
from watchparty.analytics.ranges import (
    check_bucket_minutes,
    check_window,
    day_range,
    position_bucket,
    top_count,
)
from watchparty.analytics.runs import FINISHED
from watchparty.analytics.types import (
    AnalyticsJob,
    AnalyticsJobPayload,
    PartyAnalytics,
    RequestAnalyticsExportInput,
    RunAnalyticsAggregationInput,
    SystemStats,
    SystemStatsDay,
    UserStats,
    VideoAnalytics,
)
from watchparty.context import Info
from watchparty.errors import NotAuthenticated as NotAuthenticatedProblem
from watchparty.errors import NotFound as NotFoundProblem
from watchparty.errors import Problem
from watchparty.events import Opened, StreamEnded, follow
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
    returns_errors,
)
from watchparty.gql.streams import ended_error, stream_error
from watchparty.parties.authz import at_least
from watchparty.parties.models import MemberRole
from watchparty.parties.types import Party, viewer_role
from watchparty.videos.types import Video


def field_error(info: Info, problem: Problem) -> GraphQLError:
    """An expected error of a query field, at its path (not masked)."""
    return GraphQLError(
        problem.message,
        path=info.path.as_list(),
        extensions={"code": problem.code.value, "field": problem.field},
    )


@strawberry.type
class AnalyticsPartyFields:
    @strawberry.field(
        description="How the party went: totals, the join/leave curve in `bucketMinutes` "
        "buckets over [from, to) (default: the party's first to last event; bucket default: "
        "the smallest of 1, 5, 15, 30, 60, 180, 360, 720, 1440 giving at most 1440 points), "
        "reaction hot spots by video position (`hotspotBucketSeconds`: 10, 30, 60, 120, 300 "
        "or 600) and the sync health. Null unless the viewer is the host or a co-host."
    )
    @staticmethod
    async def analytics(
        root: Party,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
        bucket_minutes: int | None = None,
        hotspot_bucket_seconds: int = 10,
    ) -> PartyAnalytics | None:
        if not at_least(await viewer_role(info, root), MemberRole.COHOST):
            return None
        try:
            check_bucket_minutes(bucket_minutes)
            check_window(from_, to)
            hotspot = position_bucket(hotspot_bucket_seconds, None, field="hotspotBucketSeconds")
            async with info.context.state.sessionmaker() as session:
                found = await reading.party_figures(
                    session,
                    root.party_id,
                    start=from_,
                    end=to,
                    bucket_minutes=bucket_minutes,
                    hotspot_bucket_seconds=hotspot,
                )
        except Problem as problem:
            raise field_error(info, problem) from None
        return PartyAnalytics.of(found)


@strawberry.type
class AnalyticsVideoFields:
    @strawberry.field(
        description="How the video is watched, over the days [from, to] (UTC, both included; "
        "default the 30 days to today; at most 366): views, viewers, watch time, completion, "
        "and the retention curve by position (`bucketSeconds`: 10, 30, 60, 120, 300 or 600; "
        "default the smallest giving at most 1000 points) with the `top` (1-20, default 5) "
        "most re-watched and most skipped buckets. Null unless the viewer owns the video."
    )
    @staticmethod
    async def analytics(
        root: Video,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
        bucket_seconds: int | None = None,
        top: int | None = None,
    ) -> VideoAnalytics | None:
        video = root._video
        if info.context.viewer_id is None or info.context.viewer_id != video.owner_id:
            return None
        try:
            days = day_range(from_, to)
            size = position_bucket(bucket_seconds, video.duration_seconds, field="bucketSeconds")
            count = top_count(top)
            async with info.context.state.sessionmaker() as session:
                found = await reading.video_figures(
                    session, video.id, days, bucket_seconds=size, top=count
                )
        except Problem as problem:
            raise field_error(info, problem) from None
        return VideoAnalytics.of(days.first, days.last, found)


@strawberry.type
class AnalyticsUserFields:
    @strawberry.field(
        description="The user's own figures over the days [from, to] (UTC, both included; "
        "default the 30 days to today; at most 366). Null for everybody but the user."
    )
    @staticmethod
    async def stats(
        root: User,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> UserStats | None:
        if not root._is_viewer:
            return None
        try:
            days = day_range(from_, to)
        except Problem as problem:
            raise field_error(info, problem) from None
        async with info.context.state.sessionmaker() as session:
            found = await reading.user_days(session, uuid.UUID(str(root.id)), days)
        return UserStats.of(found)

    @strawberry.field(
        description="Whether the user is staff (reads `systemStats`). Null for everybody but "
        "the user."
    )
    @staticmethod
    async def is_staff(root: User, info: Info) -> bool | None:
        if not root._is_viewer:
            return None
        viewer = await info.context.viewer()
        return None if viewer is None else viewer.is_staff


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="The system's daily figures over [from, to] (UTC days, both included; "
        "default the 30 days to today; at most 366). Staff only: NOT_AUTHENTICATED or "
        "NOT_ALLOWED otherwise (`extensions.code`)."
    )
    async def system_stats(
        self,
        info: Info,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> SystemStats:
        try:
            viewer = await info.context.require_viewer()
            staff.require_staff(viewer)
            days = day_range(from_, to)
        except Problem as problem:
            raise field_error(info, problem) from None
        async with info.context.state.sessionmaker() as session:
            found = await reading.system_days(session, days)
        return SystemStats(
            from_=days.first,
            to=days.last,
            days=[SystemStatsDay(**{n: getattr(d, n) for n in d.__slots__}) for d in found],
        )

    @strawberry.field(
        description="One of the viewer's analytics jobs (exports, aggregation runs they "
        "asked for); null for any other id."
    )
    async def analytics_job(self, info: Info, id: strawberry.ID) -> AnalyticsJob | None:
        viewer_id = info.context.viewer_id
        async with info.context.state.sessionmaker() as session:
            try:
                row = await exports.visible_job(session, str(id), viewer_id)
            except NotFoundProblem:
                return None
        return AnalyticsJob.of(row, info.context.state.settings)


RequestAnalyticsExportResult = Annotated[
    AnalyticsJobPayload
    | ValidationError
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | RateLimited
    | ServiceUnavailable,
    strawberry.union("RequestAnalyticsExportResult"),
]
RunAnalyticsAggregationResult = Annotated[
    AnalyticsJobPayload | ValidationError | NotAuthenticated | NotAllowed,
    strawberry.union("RunAnalyticsAggregationResult"),
]


@strawberry.type
class AnalyticsMutations:
    @strawberry.mutation(
        description="Export figures to a file, as a job: follow it with `analyticsJob(id)` or "
        "`analyticsJobProgress(id)`; when SUCCEEDED its `downloadUrl` serves the file. Who may "
        "export is who may read (PARTY: hosts and co-hosts; VIDEO: the owner; ME; SYSTEM: "
        "staff). Ranges in days (at most 366; PARTY at most 31). Rate limited per user."
    )
    @returns_errors
    async def request_analytics_export(
        self, info: Info, input: RequestAnalyticsExportInput
    ) -> RequestAnalyticsExportResult:
        viewer = await info.context.require_viewer()
        request = exports.ExportRequest(
            scope=ExportScope(input.scope),
            target_id=None if input.target_id is None else str(input.target_id),
            first=input.from_,
            last=input.to,
            format=input.format,
        )
        async with info.context.state.unit_of_work() as uow:
            job = await exports.request_export(uow, viewer, request)
        return AnalyticsJobPayload(job=AnalyticsJob.of(job, info.context.state.settings))

    @strawberry.mutation(
        description="Staff: run the aggregation now (scope all, party, video, user or system), "
        "as a job the staff member can follow."
    )
    @returns_errors
    async def run_analytics_aggregation(
        self, info: Info, input: RunAnalyticsAggregationInput | None = None
    ) -> RunAnalyticsAggregationResult:
        viewer = await info.context.require_viewer()
        staff.require_staff(viewer)
        scope = "all" if input is None else input.scope
        async with info.context.state.unit_of_work() as uow:
            job = await request_aggregation(uow, scope, viewer.id)
        return AnalyticsJobPayload(job=AnalyticsJob.of(job, info.context.state.settings))


async def _job_progress(info: Info, raw_id: str) -> AsyncGenerator[AnalyticsJob, None]:
    context = info.context
    state = context.state
    settings = state.settings
    viewer = await context.viewer()
    if viewer is None:
        raise stream_error(NotAuthenticatedProblem().message, "NOT_AUTHENTICATED")
    viewer_id = viewer.id
    del viewer
    async with state.sessionmaker() as session:
        try:
            job_id = (await exports.visible_job(session, raw_id, viewer_id)).id
        except NotFoundProblem as exc:
            raise stream_error(exc.message, "NOT_FOUND") from None
    last: tuple[Any, ...] | None = None
    try:
        items = follow(state.hub, job_channel(job_id), None)
        async with aclosing(items):
            async for item in items:
                if isinstance(item, Opened):
                    async with state.sessionmaker() as session:
                        row = await session.get(JobRow, job_id)
                    if row is None:
                        return
                    current = AnalyticsJob.of(row, settings)
                elif isinstance(item.event, AnalyticsJobChanged):
                    current = AnalyticsJob.from_payload(item.event.job, settings)
                else:
                    continue
                seen = (current.status, current.progress, current.processed)
                if seen != last:
                    last = seen
                    yield current
                if current.status in FINISHED:
                    return
    except StreamEnded as ended:
        raise ended_error(ended, resumable=False) from None


@strawberry.type
class AnalyticsSubscriptions:
    @strawberry.subscription(
        description="One of the viewer's jobs: its current state first, then every change; "
        "completes after SUCCEEDED or FAILED. NOT_AUTHENTICATED signed out, NOT_FOUND for any "
        "job but the viewer's."
    )
    async def analytics_job_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[AnalyticsJob, None]:
        async for job in _job_progress(info, str(id)):
            yield job
