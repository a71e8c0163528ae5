"""GraphQL types of the analytics dashboards, exports and jobs (built from `reading`'s figures
and `AnalyticsJob` rows or their stream payloads)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import strawberry

from watchparty.analytics import reading
from watchparty.analytics.exports import download_url
from watchparty.analytics.models import (
    DRIFT_BUCKETS_MS,
    ExportFormat,
    ExportScope,
    JobKind,
    JobStatus,
)
from watchparty.analytics.models import AnalyticsJob as JobRow
from watchparty.analytics.ranges import MAX_TOP
from watchparty.config import Settings

strawberry.enum(JobKind, name="AnalyticsJobKind", description="AGGREGATE runs, or EXPORT files.")
strawberry.enum(
    JobStatus, name="AnalyticsJobStatus", description="QUEUED, RUNNING, then SUCCEEDED or FAILED."
)
strawberry.enum(
    ExportScope,
    name="AnalyticsExportScope",
    description="PARTY (its hosts and co-hosts), VIDEO (its owner), ME (your own), SYSTEM (staff).",
)
strawberry.enum(ExportFormat, name="AnalyticsExportFormat")


@strawberry.type(description="A party's totals, all of the party (the range bounds the curve).")
class PartyAnalyticsTotals:
    unique_viewers: int
    peak_viewers: int = strawberry.field(description="The most viewers at once.")
    watch_seconds: float
    average_watch_seconds: float = strawberry.field(description="watchSeconds / uniqueViewers.")
    chat_messages: int
    reactions: int
    buffering_events: int
    buffering_seconds: float


@strawberry.type(description="One bucket of a party's curve: [start, start + bucketMinutes).")
class PartyCurvePoint:
    start: datetime
    joins: int
    leaves: int
    viewers: int = strawberry.field(description="The most viewers of any minute in the bucket.")
    chat_messages: int
    reactions: int
    buffering_events: int


@strawberry.type(description="Reactions sent while the video was in [startSeconds, endSeconds).")
class ReactionHotspot:
    start_seconds: int
    end_seconds: int
    reactions: int


@strawberry.type(
    description="Player reports whose drift was in [fromMs, toMs) (toMs null: and above)."
)
class DriftBucket:
    from_ms: int
    to_ms: int | None
    reports: int


@strawberry.type(
    description="How well the party stayed in sync: the drift of its player "
    "reports (null percentiles: no reports)."
)
class SyncHealth:
    reports: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    histogram: list[DriftBucket]


@strawberry.type(description="How a party went (its hosts and co-hosts).")
class PartyAnalytics:
    totals: PartyAnalyticsTotals
    from_: datetime | None = strawberry.field(
        name="from", description="The curve's window start (null: nothing aggregated yet)."
    )
    to: datetime | None = strawberry.field(description="The curve's window end (excluded).")
    bucket_minutes: int = strawberry.field(description="The curve's bucket size used.")
    curve: list[PartyCurvePoint] = strawberry.field(
        description="Every bucket of the window, in order (empty ones are zeros)."
    )
    hotspot_bucket_seconds: int
    hotspots: list[ReactionHotspot] = strawberry.field(
        description="Video positions with reactions, in video order (the busiest 1000 at most)."
    )
    sync_health: SyncHealth
    updated_at: datetime | None = strawberry.field(
        description="When the aggregates were computed (null: never)."
    )

    @classmethod
    def of(cls, found: reading.PartyFigures) -> PartyAnalytics:
        t = found.totals
        window = found.window
        return cls(
            totals=PartyAnalyticsTotals(
                unique_viewers=t.unique_viewers,
                peak_viewers=t.peak_viewers,
                watch_seconds=t.watch_seconds,
                average_watch_seconds=t.average_watch_seconds,
                chat_messages=t.chat_messages,
                reactions=t.reactions,
                buffering_events=t.buffering_events,
                buffering_seconds=t.buffering_seconds,
            ),
            from_=None if window is None else window.start,
            to=None if window is None else window.end,
            bucket_minutes=1 if window is None else window.bucket_minutes,
            curve=[PartyCurvePoint(**_fields(p)) for p in found.curve],
            hotspot_bucket_seconds=found.hotspot_bucket_seconds,
            hotspots=[ReactionHotspot(**_fields(h)) for h in found.hotspots],
            sync_health=SyncHealth(
                reports=found.drift_reports,
                p50_ms=found.drift_p50_ms,
                p90_ms=found.drift_p90_ms,
                p99_ms=found.drift_p99_ms,
                histogram=[DriftBucket(**_fields(d)) for d in found.drift],
            ),
            updated_at=found.updated_at,
        )


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


@strawberry.type(description="A video's figures on one UTC day.")
class VideoAnalyticsDay:
    day: date
    views: int
    unique_viewers: int
    watch_seconds: float
    completions: int


@strawberry.type(
    description="One position bucket of a video (all time): the busiest 10-second "
    "slice of it when the bucket is coarser."
)
class RetentionPoint:
    start_seconds: int
    end_seconds: int
    viewers: int = strawberry.field(description="Distinct viewers who played it.")
    plays: int
    rewatches: int = strawberry.field(description="plays - viewers.")
    skips: int = strawberry.field(description="Seeks that jumped over it.")

    @classmethod
    def of(cls, point: reading.RetentionPoint) -> RetentionPoint:
        return cls(
            start_seconds=point.start_seconds,
            end_seconds=point.end_seconds,
            viewers=point.viewers,
            plays=point.plays,
            rewatches=point.rewatches,
            skips=point.skips,
        )


@strawberry.type(description="How a video is watched (its owner).")
class VideoAnalytics:
    from_: date = strawberry.field(name="from")
    to: date
    views: int
    unique_viewers: int = strawberry.field(
        description="The sum of each day's distinct viewers: someone watching on two days of "
        "the range counts twice."
    )
    watch_seconds: float
    completion_rate: float | None = strawberry.field(
        description="Completions / views in the range (null without views)."
    )
    days: list[VideoAnalyticsDay] = strawberry.field(description="Every day of the range.")
    bucket_seconds: int
    retention: list[RetentionPoint] = strawberry.field(
        description="By position, all time (positions carry no day), at most 1000 buckets."
    )
    most_rewatched: list[RetentionPoint]
    most_skipped: list[RetentionPoint]

    @classmethod
    def of(cls, first: date, last: date, found: reading.VideoFigures) -> VideoAnalytics:
        return cls(
            from_=first,
            to=last,
            views=found.views,
            unique_viewers=found.unique_viewers,
            watch_seconds=found.watch_seconds,
            completion_rate=found.completion_rate,
            days=[VideoAnalyticsDay(**_fields(d)) for d in found.days],
            bucket_seconds=found.bucket_seconds,
            retention=[RetentionPoint.of(p) for p in found.retention],
            most_rewatched=[RetentionPoint.of(p) for p in found.most_rewatched],
            most_skipped=[RetentionPoint.of(p) for p in found.most_skipped],
        )


@strawberry.type(description="A user's figures on one UTC day (or a range's sums).")
class UserStatsDay:
    day: date
    watch_seconds: float
    parties_hosted: int
    parties_joined: int
    messages_sent: int
    reactions_sent: int


@strawberry.type(description="The viewer's own figures over a range of days.")
class UserStats:
    from_: date = strawberry.field(name="from")
    to: date
    watch_seconds: float
    parties_hosted: int
    parties_joined: int
    messages_sent: int
    reactions_sent: int
    days: list[UserStatsDay] = strawberry.field(description="Every day of the range.")

    @classmethod
    def of(cls, days: list[reading.UserDayFigures]) -> UserStats:
        total = reading.user_totals(days)
        return cls(
            from_=days[0].day,
            to=days[-1].day,
            watch_seconds=total.watch_seconds,
            parties_hosted=total.parties_hosted,
            parties_joined=total.parties_joined,
            messages_sent=total.messages_sent,
            reactions_sent=total.reactions_sent,
            days=[UserStatsDay(**_fields(d)) for d in days],
        )


@strawberry.type(description="The system's figures on one UTC day.")
class SystemStatsDay:
    day: date
    active_users: int
    new_users: int
    parties_created: int
    watch_seconds: float
    premium_users: int
    events: int
    buffering_events: int
    player_errors: int


@strawberry.type(description="The system's daily figures (staff).")
class SystemStats:
    from_: date = strawberry.field(name="from")
    to: date
    days: list[SystemStatsDay] = strawberry.field(description="Every day of the range.")


@strawberry.type(description="An aggregation run or an export, and how far it got.")
class AnalyticsJob:
    id: strawberry.ID
    kind: JobKind
    scope: str = strawberry.field(
        description="An export's AnalyticsExportScope, or the aggregation's scope."
    )
    status: JobStatus
    progress: float = strawberry.field(description="0..1.")
    processed: int = strawberry.field(description="Rows (exports) or events (runs) handled.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    _has_file: strawberry.Private[bool]
    _settings: strawberry.Private[Settings]

    @strawberry.field(
        description="SUCCEEDED exports: a signed URL of the file, valid for a while (ask again "
        "for a fresh one) and while the file is kept; null otherwise."
    )
    def download_url(self) -> str | None:
        if self.status is not JobStatus.SUCCEEDED:
            return None
        return download_url(
            self._settings, self.id, has_file=self._has_file, finished_at=self.finished_at
        )

    @classmethod
    def of(cls, row: JobRow, settings: Settings) -> AnalyticsJob:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            scope=row.scope,
            status=row.status,
            progress=row.progress,
            processed=row.processed,
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            _has_file=row.file_key is not None,
            _settings=settings,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any], settings: Settings) -> AnalyticsJob:
        """From a stream event (`runs.job_payload`)."""
        created = _when(payload["createdAt"])
        assert created is not None
        return cls(
            id=strawberry.ID(str(uuid.UUID(payload["id"]))),
            kind=JobKind(payload["kind"]),
            scope=payload["scope"],
            status=JobStatus(payload["status"]),
            progress=float(payload["progress"]),
            processed=int(payload["processed"]),
            error=payload.get("error"),
            created_at=created,
            started_at=_when(payload.get("startedAt")),
            finished_at=_when(payload.get("finishedAt")),
            _has_file=bool(payload.get("hasFile")),
            _settings=settings,
        )


@strawberry.type
class AnalyticsJobPayload:
    job: AnalyticsJob


@strawberry.input
class RequestAnalyticsExportInput:
    scope: ExportScope
    target_id: strawberry.ID | None = strawberry.field(
        default=None, description="The party (PARTY) or video (VIDEO); none for ME and SYSTEM."
    )
    from_: date | None = strawberry.field(
        default=None,
        name="from",
        description="First day (UTC), included. Default: 30 days before `to` (PARTY: the "
        "party's first day).",
    )
    to: date | None = strawberry.field(
        default=None, description="Last day (UTC), included. Default: today (PARTY: its last)."
    )
    format: ExportFormat = ExportFormat.CSV


@strawberry.input
class RunAnalyticsAggregationInput:
    scope: str = strawberry.field(default="all", description="all, party, video, user or system.")


# The lists the schema bounds (the query cost model's `BOUNDED_LISTS`; registered by
# `schema.py`). Curves, hot spots and retention (up to 1440 / 1000 points) are priced like any
# unbounded list (`PAGE_CAP`), so one dashboard query stays under the default cost limit.
BOUNDED_LISTS = (
    ("SyncHealth", "histogram", len(DRIFT_BUCKETS_MS)),
    ("VideoAnalytics", "mostRewatched", MAX_TOP),
    ("VideoAnalytics", "mostSkipped", MAX_TOP),
)
