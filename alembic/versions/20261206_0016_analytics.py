"""analytics

Raw events (partitioned by day on PostgreSQL: the parent and the partitions from yesterday to a
week ahead; the `analytics_partitions` job keeps creating and dropping them), aggregates,
watermarks, jobs, and `users.is_staff` (issue 13).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 13:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import watchparty.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PARTITIONS_BEHIND, PARTITIONS_AHEAD = 1, 7


def _create_partitions() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    today = datetime.now(UTC).date()
    for offset in range(-PARTITIONS_BEHIND, PARTITIONS_AHEAD + 1):
        day = today + timedelta(days=offset)
        op.execute(
            f"CREATE TABLE IF NOT EXISTS analytics_events_{day:%Y%m%d} PARTITION OF "
            f"analytics_events FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
        )


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
        sa.Column("new_users", sa.Integer(), nullable=False),
        sa.Column("parties_created", sa.Integer(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("premium_users", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("buffering_events", sa.Integer(), nullable=False),
        sa.Column("player_errors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_daily")),
    )
    op.create_table(
        "analytics_events",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column(
            "source",
            sa.Enum("CLIENT", "SERVER", name="eventsource", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("occurred_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "ingested_at",
            watchparty.db.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("anonymous_id", sa.String(length=64), nullable=True),
        sa.Column("party_id", sa.Uuid(), nullable=True),
        sa.Column("video_id", sa.Uuid(), nullable=True),
        sa.Column("position_seconds", sa.Float(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("browser", sa.String(length=32), nullable=True),
        sa.Column("os", sa.String(length=32), nullable=True),
        sa.Column("device", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("day", "id", name=op.f("pk_analytics_events")),
        postgresql_partition_by="RANGE (day)",
    )
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_events_ingested_at", ["ingested_at"], unique=False)
        batch_op.create_index(
            "ix_analytics_events_party", ["party_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_analytics_events_user", ["user_id"], unique=False)
        batch_op.create_index(
            "ix_analytics_events_video", ["video_id", "occurred_at"], unique=False
        )
    _create_partitions()

    op.create_table(
        "analytics_watermarks",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("ingested_through", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_analytics_watermarks")),
    )
    op.create_table(
        "analytics_jobs",
        sa.Column(
            "kind",
            sa.Enum("AGGREGATE", "EXPORT", name="jobkind", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "QUEUED",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                name="jobstatus",
                native_enum=False,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_analytics_jobs_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_jobs")),
    )
    with op.batch_alter_table("analytics_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_analytics_jobs_owner", ["owner_id", "created_at"], unique=False)
        batch_op.create_index("ix_analytics_jobs_status", ["status", "created_at"], unique=False)

    op.create_table(
        "analytics_user_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("parties_hosted", sa.Integer(), nullable=False),
        sa.Column("parties_joined", sa.Integer(), nullable=False),
        sa.Column("messages_sent", sa.Integer(), nullable=False),
        sa.Column("reactions_sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_analytics_user_days_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_analytics_user_days")),
    )
    op.create_table(
        "analytics_party_drift",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("bucket_ms", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_analytics_party_drift_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", "bucket_ms", name=op.f("pk_analytics_party_drift")),
    )
    op.create_table(
        "analytics_party_hotspots",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.Uuid(), nullable=True),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_analytics_party_hotspots_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", "bucket", name=op.f("pk_analytics_party_hotspots")),
    )
    op.create_table(
        "analytics_party_minutes",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("minute", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("joins", sa.Integer(), nullable=False),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("chat_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("buffering_events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_analytics_party_minutes_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", "minute", name=op.f("pk_analytics_party_minutes")),
    )
    op.create_table(
        "analytics_party_stats",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("chat_messages", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.Column("buffering_events", sa.Integer(), nullable=False),
        sa.Column("buffering_seconds", sa.Float(), nullable=False),
        sa.Column("drift_reports", sa.Integer(), nullable=False),
        sa.Column("drift_p50_ms", sa.Float(), nullable=True),
        sa.Column("drift_p90_ms", sa.Float(), nullable=True),
        sa.Column("drift_p99_ms", sa.Float(), nullable=True),
        sa.Column("first_event_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_analytics_party_stats_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_analytics_party_stats")),
    )
    op.create_table(
        "analytics_video_days",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("completions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_analytics_video_days_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "day", name=op.f("pk_analytics_video_days")),
    )
    op.create_table(
        "analytics_video_positions",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("skips", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_analytics_video_positions_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "bucket", name=op.f("pk_analytics_video_positions")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_staff", sa.Boolean(), server_default=sa.text("(false)"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_staff")

    op.drop_table("analytics_video_positions")
    op.drop_table("analytics_video_days")
    op.drop_table("analytics_party_stats")
    op.drop_table("analytics_party_minutes")
    op.drop_table("analytics_party_hotspots")
    op.drop_table("analytics_party_drift")
    op.drop_table("analytics_user_days")
    with op.batch_alter_table("analytics_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_jobs_status")
        batch_op.drop_index("ix_analytics_jobs_owner")

    op.drop_table("analytics_jobs")
    op.drop_table("analytics_watermarks")
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_events_video")
        batch_op.drop_index("ix_analytics_events_user")
        batch_op.drop_index("ix_analytics_events_party")
        batch_op.drop_index("ix_analytics_events_ingested_at")

    op.drop_table("analytics_events")
    op.drop_table("analytics_daily")
