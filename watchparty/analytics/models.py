"""Analytics' tables: the raw events, the aggregates dashboards read, watermarks and jobs.

- `analytics_events` is append-only. On PostgreSQL it is partitioned by `day` (RANGE, one
  partition per UTC day, created ahead and dropped after the retention by a job); on SQLite a
  plain table. Its key is (`day`, `id`): `id` is the client's event id (a retry is the same row),
  `day` the UTC date of the time the client claimed (`occurredAtMs` as sent, so a retry lands on
  the same day even though its corrected time differs by the clock correction), and is the
  partition key. `occurred_at` is the corrected time, `received_at` when the server accepted it,
  `ingested_at` when the row was written (the aggregation watermark's column).
- Aggregates are recomputed per touched key (never incremented), so a re-run writes the same
  rows: `analytics_party_*`, `analytics_video_*`, `analytics_user_days`, `analytics_daily`.
  Time curves are stored at the finest bucket (a minute, 10 s of video, a day) and re-bucketed
  when read.
- `analytics_watermarks`: how far each aggregation has read, written with the aggregates.
- `analytics_jobs`: every aggregation run and export (`AnalyticsJob`), with status and progress.

Enumerations are VARCHAR columns holding member names (like the other domains).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, Enum, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, UTCDateTime
from watchparty.kit.time import utcnow

POSITION_BUCKET_SECONDS = 10  # video positions (retention, hot spots) are stored per 10 s
DRIFT_BUCKETS_MS = (0, 50, 100, 250, 500, 1000, 2000, 5000)  # lower bounds of the histogram


class EventSource(StrEnum):
    CLIENT = "CLIENT"  # trackEvents / the beacon
    SERVER = "SERVER"  # watchparty.tracking


class JobKind(StrEnum):
    AGGREGATE = "AGGREGATE"
    EXPORT = "EXPORT"


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ExportScope(StrEnum):
    PARTY = "PARTY"  # one party (its hosts and co-hosts)
    VIDEO = "VIDEO"  # one video (its owner)
    ME = "ME"  # the requester's own figures
    SYSTEM = "SYSTEM"  # daily system figures (staff)


class ExportFormat(StrEnum):
    CSV = "CSV"
    JSON = "JSON"


def _enum(cls: type[StrEnum], length: int) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=False, length=length)


_json = JSON().with_variant(JSONB(), "postgresql")


class AnalyticsEvent(Base):
    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_ingested_at", "ingested_at"),
        Index("ix_analytics_events_party", "party_id", "occurred_at"),
        Index("ix_analytics_events_video", "video_id", "occurred_at"),
        Index("ix_analytics_events_user", "user_id"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(48))
    source: Mapped[EventSource] = mapped_column(_enum(EventSource, 8))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    ingested_at: Mapped[datetime] = mapped_column(
        UTCDateTime(timezone=True), default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    user_id: Mapped[uuid.UUID | None]  # null: anonymous, or the account was deleted
    anonymous_id: Mapped[str | None] = mapped_column(String(64))
    party_id: Mapped[uuid.UUID | None]
    video_id: Mapped[uuid.UUID | None]
    position_seconds: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(_json, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))  # truncated: /24 or /48, never whole
    browser: Mapped[str | None] = mapped_column(String(32))
    os: Mapped[str | None] = mapped_column(String(32))
    device: Mapped[str | None] = mapped_column(String(16))  # DESKTOP | MOBILE | TABLET | BOT


class AnalyticsWatermark(Base):
    """How far an aggregation (`scope`: party, video, user, system) has read `ingested_at`."""

    __tablename__ = "analytics_watermarks"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    ingested_through: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)


class AnalyticsJob(IdMixin, Base):
    __tablename__ = "analytics_jobs"
    __table_args__ = (
        Index("ix_analytics_jobs_owner", "owner_id", "created_at"),
        Index("ix_analytics_jobs_status", "status", "created_at"),
    )

    kind: Mapped[JobKind] = mapped_column(_enum(JobKind, 12))
    scope: Mapped[str] = mapped_column(String(32))  # aggregation scope, or an ExportScope
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )  # null: the system's (cron) runs
    target_id: Mapped[uuid.UUID | None]  # the party or video of an export
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # from, to, format...
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, 12), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    processed: Mapped[int] = mapped_column(Integer, default=0)  # events or rows handled
    error: Mapped[str | None] = mapped_column(Text)
    file_key: Mapped[str | None] = mapped_column(String(255))  # the export's stored file
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))


# --- aggregates: recomputed per key by the aggregation jobs, read by the dashboards --------


class PartyStats(Base):
    __tablename__ = "analytics_party_stats"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    unique_viewers: Mapped[int] = mapped_column(Integer, default=0)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    chat_messages: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    buffering_events: Mapped[int] = mapped_column(Integer, default=0)
    buffering_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    drift_reports: Mapped[int] = mapped_column(Integer, default=0)
    drift_p50_ms: Mapped[float | None] = mapped_column(Float)
    drift_p90_ms: Mapped[float | None] = mapped_column(Float)
    drift_p99_ms: Mapped[float | None] = mapped_column(Float)
    first_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), default=utcnow)


class PartyMinute(Base):
    """One minute of a party: arrivals, departures, viewers at the minute's end, activity."""

    __tablename__ = "analytics_party_minutes"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), primary_key=True)
    joins: Mapped[int] = mapped_column(Integer, default=0)
    leaves: Mapped[int] = mapped_column(Integer, default=0)
    viewers: Mapped[int] = mapped_column(Integer, default=0)
    chat_messages: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    buffering_events: Mapped[int] = mapped_column(Integer, default=0)


class PartyHotspot(Base):
    """Reactions by video position (`POSITION_BUCKET_SECONDS` buckets): where everyone laughed."""

    __tablename__ = "analytics_party_hotspots"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[uuid.UUID | None]  # the library video playing, when it was one
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)  # bucket start, seconds
    reactions: Mapped[int] = mapped_column(Integer, default=0)


class PartyDrift(Base):
    """The drift distribution of a party's player reports (`DRIFT_BUCKETS_MS` lower bounds)."""

    __tablename__ = "analytics_party_drift"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_ms: Mapped[int] = mapped_column(Integer, primary_key=True)
    reports: Mapped[int] = mapped_column(Integer, default=0)


class VideoDay(Base):
    """A video's figures for one UTC day (a range sums days; unique viewers count once a day)."""

    __tablename__ = "analytics_video_days"

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)
    unique_viewers: Mapped[int] = mapped_column(Integer, default=0)
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    completions: Mapped[int] = mapped_column(Integer, default=0)


class VideoPosition(Base):
    """A video's retention curve by position (`POSITION_BUCKET_SECONDS`), all time: distinct
    viewers who watched the bucket, total plays of it (plays - viewers = re-watches) and seeks
    that jumped over it (skips)."""

    __tablename__ = "analytics_video_positions"

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)  # bucket start, seconds
    viewers: Mapped[int] = mapped_column(Integer, default=0)
    plays: Mapped[int] = mapped_column(Integer, default=0)
    skips: Mapped[int] = mapped_column(Integer, default=0)


class UserDay(Base):
    """A user's figures for one UTC day (`me.stats` sums a range)."""

    __tablename__ = "analytics_user_days"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    parties_hosted: Mapped[int] = mapped_column(Integer, default=0)
    parties_joined: Mapped[int] = mapped_column(Integer, default=0)
    messages_sent: Mapped[int] = mapped_column(Integer, default=0)
    reactions_sent: Mapped[int] = mapped_column(Integer, default=0)


class SystemDay(Base):
    """The system's figures for one UTC day (staff)."""

    __tablename__ = "analytics_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    active_users: Mapped[int] = mapped_column(Integer, default=0)
    new_users: Mapped[int] = mapped_column(Integer, default=0)
    parties_created: Mapped[int] = mapped_column(Integer, default=0)
    watch_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    premium_users: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    buffering_events: Mapped[int] = mapped_column(Integer, default=0)
    player_errors: Mapped[int] = mapped_column(Integer, default=0)
