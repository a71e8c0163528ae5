"""notifications

The notification feed (issue 11). One unread entry per (recipient, group key) at most: a
partial unique index that collapsing upserts against (PostgreSQL and SQLite alike).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD_GROUP = "read_at IS NULL AND group_key IS NOT NULL"


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_count", sa.Integer(), nullable=False),
        sa.Column("actor_ids", sa.JSON(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("group_key", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("body", sa.String(length=180), nullable=False),
        sa.Column("action_path", sa.String(length=300), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("seen_at", _time(), nullable=True),
        sa.Column("read_at", _time(), nullable=True),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_notifications_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["users.id"],
            name=op.f("fk_notifications_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_actor_id"), "notifications", ["actor_id"], unique=False)
    op.create_index("ix_notifications_expires_at", "notifications", ["expires_at"], unique=False)
    op.create_index(
        "ix_notifications_recipient_updated",
        "notifications",
        ["recipient_id", "updated_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_notifications_unread_group",
        "notifications",
        ["recipient_id", "group_key"],
        unique=True,
        postgresql_where=sa.text(UNREAD_GROUP),
        sqlite_where=sa.text(UNREAD_GROUP),
    )


def downgrade() -> None:
    op.drop_index("uq_notifications_unread_group", table_name="notifications")
    op.drop_index("ix_notifications_recipient_updated", table_name="notifications")
    op.drop_index("ix_notifications_expires_at", table_name="notifications")
    op.drop_index(op.f("ix_notifications_actor_id"), table_name="notifications")
    op.drop_table("notifications")
