"""notification retention

The retention job (issue 11) deletes read entries older than NOTIFICATION_READ_RETENTION_DAYS
in bounded batches: a partial index on `read_at` (read entries only) finds them without a scan.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

READ = "read_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_notifications_read_at",
        "notifications",
        ["read_at"],
        unique=False,
        postgresql_where=sa.text(READ),
        sqlite_where=sa.text(READ),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_read_at", table_name="notifications")
