"""videos

The video library: uploads (with their resumable upload state), external sources, processing
metadata, outputs and state. Enumerations are VARCHAR(20) holding member names (see
watchparty/videos/models.py). `deleted_at` is a soft delete that also cancels processing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def _enum() -> sa.String:
    return sa.String(length=20)


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", _enum(), nullable=False),
        sa.Column("visibility", _enum(), nullable=False),
        sa.Column("premium_only", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("provider", _enum(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("embed_url", sa.String(length=2000), nullable=True),
        sa.Column("is_live", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("upload_expires_at", _time(), nullable=True),
        sa.Column("original_key", sa.String(length=500), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("video_codec", sa.String(length=50), nullable=True),
        sa.Column("audio_codec", sa.String(length=50), nullable=True),
        sa.Column("frame_rate", sa.Double(), nullable=True),
        sa.Column("bitrate_kbps", sa.Integer(), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=500), nullable=True),
        sa.Column("hls_master_key", sa.String(length=500), nullable=True),
        sa.Column("renditions", sa.JSON(), nullable=False),
        sa.Column("processing_stage", sa.String(length=30), nullable=True),
        sa.Column("processing_progress", sa.Double(), nullable=False),
        sa.Column("processing_error", sa.Text(), nullable=True),
        sa.Column("processing_started_at", _time(), nullable=True),
        sa.Column("processing_finished_at", _time(), nullable=True),
        sa.Column("processing_heartbeat_at", _time(), nullable=True),
        sa.Column("processing_attempts", sa.Integer(), nullable=False),
        sa.Column("deleted_at", _time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_videos_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    op.create_index(op.f("ix_videos_owner_id"), "videos", ["owner_id"], unique=False)
    op.create_index("ix_videos_owner_created", "videos", ["owner_id", "created_at"], unique=False)
    op.create_index("ix_videos_status", "videos", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_videos_status", table_name="videos")
    op.drop_index("ix_videos_owner_created", table_name="videos")
    op.drop_index(op.f("ix_videos_owner_id"), table_name="videos")
    op.drop_table("videos")
