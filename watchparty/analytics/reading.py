"""The dashboards' figures, read from the aggregate tables only (never the raw events), each
in a constant number of statements whatever the size of the data:

- a party: its stats row, the curve (minutes grouped into buckets by the database), the hot
  spots (position buckets grouped likewise) and the drift histogram: 4 statements;
- a video: its days in range and its position curve: 2 statements;
- a user, the system: their days in range: 1 statement each.

Who may read what is the caller's (the GraphQL fields, `exports.authorize`); this module only
reads. Coarser buckets than the stored ones are computed here: a party bucket sums arrivals,
departures, messages and reactions and takes the most viewers of its minutes; a position bucket
sums reactions (hot spots) and takes, for viewers, plays and skips, its busiest 10-second slice
(distinct viewers of slices cannot be added up).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.analytics.models import (
    DRIFT_BUCKETS_MS,
    PartyDrift,
    PartyHotspot,
    PartyMinute,
    PartyStats,
    SystemDay,
    UserDay,
    VideoDay,
    VideoPosition,
)
from watchparty.analytics.ranges import (
    MAX_POSITION_POINTS,
    DayRange,
    Window,
    party_window,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- parties -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartyTotals:
    unique_viewers: int = 0
    peak_viewers: int = 0
    watch_seconds: float = 0.0
    chat_messages: int = 0
    reactions: int = 0
    buffering_events: int = 0
    buffering_seconds: float = 0.0

    @property
    def average_watch_seconds(self) -> float:
        return self.watch_seconds / self.unique_viewers if self.unique_viewers else 0.0


@dataclass(frozen=True, slots=True)
class CurvePoint:
    start: datetime
    joins: int
    leaves: int
    viewers: int  # the most of any minute of the bucket
    chat_messages: int
    reactions: int
    buffering_events: int


@dataclass(frozen=True, slots=True)
class Hotspot:
    start_seconds: int
    end_seconds: int
    reactions: int


@dataclass(frozen=True, slots=True)
class DriftBucket:
    from_ms: int
    to_ms: int | None  # None: the last, open bucket
    reports: int


@dataclass(frozen=True, slots=True)
class PartyFigures:
    totals: PartyTotals
    window: Window | None
    curve: list[CurvePoint]
    hotspot_bucket_seconds: int
    hotspots: list[Hotspot]
    drift: list[DriftBucket]
    drift_reports: int
    drift_p50_ms: float | None
    drift_p90_ms: float | None
    drift_p99_ms: float | None
    updated_at: datetime | None


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _epoch_seconds(session: AsyncSession, column: Any) -> Any:
    """Whole seconds since 1970 of a UTCDateTime column, in SQL."""
    if _dialect(session) == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    return cast(func.strftime("%s", column), Integer)  # SQLite stores UTC wall time


async def party_figures(
    session: AsyncSession,
    party_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    bucket_minutes: int | None,
    hotspot_bucket_seconds: int,
) -> PartyFigures:
    """Everything `Party.analytics` shows (the range was checked by `ranges` already)."""
    stats = await session.get(PartyStats, party_id)
    window = party_window(
        start,
        end,
        bucket_minutes,
        first_event=None if stats is None else stats.first_event_at,
        last_event=None if stats is None else stats.last_event_at,
    )
    curve = [] if window is None else await _curve(session, party_id, window)
    hotspots = await _hotspots(session, party_id, hotspot_bucket_seconds)
    drift = await _drift(session, party_id)
    totals = (
        PartyTotals()
        if stats is None
        else PartyTotals(
            unique_viewers=stats.unique_viewers,
            peak_viewers=stats.peak_viewers,
            watch_seconds=stats.watch_seconds,
            chat_messages=stats.chat_messages,
            reactions=stats.reactions,
            buffering_events=stats.buffering_events,
            buffering_seconds=stats.buffering_seconds,
        )
    )
    return PartyFigures(
        totals=totals,
        window=window,
        curve=curve,
        hotspot_bucket_seconds=hotspot_bucket_seconds,
        hotspots=hotspots,
        drift=drift,
        drift_reports=0 if stats is None else stats.drift_reports,
        drift_p50_ms=None if stats is None else stats.drift_p50_ms,
        drift_p90_ms=None if stats is None else stats.drift_p90_ms,
        drift_p99_ms=None if stats is None else stats.drift_p99_ms,
        updated_at=None if stats is None else stats.updated_at,
    )


async def _curve(session: AsyncSession, party_id: uuid.UUID, window: Window) -> list[CurvePoint]:
    size = window.bucket_minutes * 60
    origin = int((window.start - EPOCH).total_seconds())
    index = ((_epoch_seconds(session, PartyMinute.minute) - origin) // size).label("idx")
    query = (
        select(
            index,
            func.sum(PartyMinute.joins),
            func.sum(PartyMinute.leaves),
            func.max(PartyMinute.viewers),
            func.sum(PartyMinute.chat_messages),
            func.sum(PartyMinute.reactions),
            func.sum(PartyMinute.buffering_events),
        )
        .where(
            PartyMinute.party_id == party_id,
            PartyMinute.minute >= window.start,
            PartyMinute.minute < window.end,
        )
        .group_by(index)
        .order_by(index)
    )
    found = {int(row[0]): row for row in (await session.execute(query)).all()}
    points = []
    for n in range(window.points):
        row = found.get(n)
        values = [0] * 6 if row is None else [int(v or 0) for v in row[1:]]
        points.append(CurvePoint(window.start + timedelta(seconds=n * size), *values))
    return points


async def _hotspots(session: AsyncSession, party_id: uuid.UUID, size: int) -> list[Hotspot]:
    """Non-empty position buckets in video order (the busiest `MAX_POSITION_POINTS` if more)."""
    index = (PartyHotspot.bucket // size).label("idx")
    total = func.sum(PartyHotspot.reactions)
    query = (
        select(index, total)
        .where(PartyHotspot.party_id == party_id)
        .group_by(index)
        .having(total > 0)
        .order_by(total.desc(), index)
        .limit(MAX_POSITION_POINTS)
    )
    rows = sorted((int(i), int(n)) for i, n in (await session.execute(query)).all())
    return [Hotspot(i * size, (i + 1) * size, n) for i, n in rows]


async def _drift(session: AsyncSession, party_id: uuid.UUID) -> list[DriftBucket]:
    query = select(PartyDrift.bucket_ms, PartyDrift.reports).where(PartyDrift.party_id == party_id)
    found = {int(b): int(n) for b, n in (await session.execute(query)).all()}
    bounds = list(DRIFT_BUCKETS_MS)
    return [
        DriftBucket(low, bounds[i + 1] if i + 1 < len(bounds) else None, found.get(low, 0))
        for i, low in enumerate(bounds)
    ]


# --- videos ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoDayFigures:
    day: date
    views: int
    unique_viewers: int
    watch_seconds: float
    completions: int


@dataclass(frozen=True, slots=True)
class RetentionPoint:
    start_seconds: int
    end_seconds: int
    viewers: int
    plays: int
    skips: int

    @property
    def rewatches(self) -> int:
        return max(0, self.plays - self.viewers)


@dataclass(frozen=True, slots=True)
class VideoFigures:
    days: list[VideoDayFigures]
    bucket_seconds: int
    retention: list[RetentionPoint]
    most_rewatched: list[RetentionPoint]
    most_skipped: list[RetentionPoint]

    @property
    def views(self) -> int:
        return sum(d.views for d in self.days)

    @property
    def unique_viewers(self) -> int:
        return sum(d.unique_viewers for d in self.days)

    @property
    def watch_seconds(self) -> float:
        return sum(d.watch_seconds for d in self.days)

    @property
    def completions(self) -> int:
        return sum(d.completions for d in self.days)

    @property
    def completion_rate(self) -> float | None:
        return self.completions / self.views if self.views else None


async def video_days(
    session: AsyncSession, video_id: uuid.UUID, days: DayRange
) -> list[VideoDayFigures]:
    query = select(VideoDay).where(
        VideoDay.video_id == video_id, VideoDay.day >= days.first, VideoDay.day <= days.last
    )
    found = {row.day: row for row in await session.scalars(query)}
    result = []
    for day in days.each():
        row = found.get(day)
        if row is None:
            result.append(VideoDayFigures(day, 0, 0, 0.0, 0))
        else:
            result.append(
                VideoDayFigures(
                    day, row.views, row.unique_viewers, row.watch_seconds, row.completions
                )
            )
    return result


async def video_figures(
    session: AsyncSession, video_id: uuid.UUID, days: DayRange, *, bucket_seconds: int, top: int
) -> VideoFigures:
    """Days in range; the retention curve is all time (positions carry no day)."""
    found_days = await video_days(session, video_id, days)
    index = (VideoPosition.bucket // bucket_seconds).label("idx")
    query = (
        select(
            index,
            func.max(VideoPosition.viewers),
            func.max(VideoPosition.plays),
            func.max(VideoPosition.skips),
        )
        .where(VideoPosition.video_id == video_id)
        .group_by(index)
        .order_by(index)
        .limit(MAX_POSITION_POINTS)
    )
    retention = [
        RetentionPoint(
            int(i) * bucket_seconds, (int(i) + 1) * bucket_seconds, int(v), int(p), int(s)
        )
        for i, v, p, s in (await session.execute(query)).all()
    ]
    rewatched = sorted(
        (p for p in retention if p.rewatches > 0), key=lambda p: (-p.rewatches, p.start_seconds)
    )
    skipped = sorted(
        (p for p in retention if p.skips > 0), key=lambda p: (-p.skips, p.start_seconds)
    )
    return VideoFigures(found_days, bucket_seconds, retention, rewatched[:top], skipped[:top])


# --- users and the system ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserDayFigures:
    day: date
    watch_seconds: float = 0.0
    parties_hosted: int = 0
    parties_joined: int = 0
    messages_sent: int = 0
    reactions_sent: int = 0


USER_COLUMNS = (
    "watch_seconds",
    "parties_hosted",
    "parties_joined",
    "messages_sent",
    "reactions_sent",
)


async def user_days(
    session: AsyncSession, user_id: uuid.UUID, days: DayRange
) -> list[UserDayFigures]:
    query = select(UserDay).where(
        UserDay.user_id == user_id, UserDay.day >= days.first, UserDay.day <= days.last
    )
    found = {row.day: row for row in await session.scalars(query)}
    return [
        UserDayFigures(day)
        if (row := found.get(day)) is None
        else UserDayFigures(day, *(getattr(row, c) for c in USER_COLUMNS))
        for day in days.each()
    ]


def user_totals(days: list[UserDayFigures]) -> UserDayFigures:
    """The range's sums (`day` is the range's first)."""
    return UserDayFigures(
        days[0].day,
        *(sum(getattr(d, c) for d in days) for c in USER_COLUMNS),  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class SystemDayFigures:
    day: date
    active_users: int = 0
    new_users: int = 0
    parties_created: int = 0
    watch_seconds: float = 0.0
    premium_users: int = 0
    events: int = 0
    buffering_events: int = 0
    player_errors: int = 0


SYSTEM_COLUMNS = (
    "active_users",
    "new_users",
    "parties_created",
    "watch_seconds",
    "premium_users",
    "events",
    "buffering_events",
    "player_errors",
)


async def system_days(session: AsyncSession, days: DayRange) -> list[SystemDayFigures]:
    query = select(SystemDay).where(SystemDay.day >= days.first, SystemDay.day <= days.last)
    found = {row.day: row for row in await session.scalars(query)}
    return [
        SystemDayFigures(day)
        if (row := found.get(day)) is None
        else SystemDayFigures(day, *(getattr(row, c) for c in SYSTEM_COLUMNS))
        for day in days.each()
    ]
