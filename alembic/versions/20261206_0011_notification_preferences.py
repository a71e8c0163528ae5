"""notification preferences and email delivery

Per-user notification settings (only what differs from the defaults is stored), and on each
entry whether it is in the feed and when its instant email was due and sent (issue 11).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMAIL_PENDING = "email_due_at IS NOT NULL AND emailed_at IS NULL"


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("email_frequency", sa.String(length=10), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("quiet_start_minute", sa.Integer(), nullable=True),
        sa.Column("quiet_end_minute", sa.Integer(), nullable=True),
        sa.Column("paused_until", _time(), nullable=True),
        sa.Column("digest_sent_on", sa.Date(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("in_app", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
        batch.add_column(sa.Column("email_due_at", _time(), nullable=True))
        batch.add_column(sa.Column("emailed_at", _time(), nullable=True))
    op.create_index(
        "ix_notifications_email_due",
        "notifications",
        ["email_due_at"],
        unique=False,
        postgresql_where=sa.text(EMAIL_PENDING),
        sqlite_where=sa.text(EMAIL_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_email_due", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("emailed_at")
        batch.drop_column("email_due_at")
        batch.drop_column("in_app")
    op.drop_table("notification_preferences")
