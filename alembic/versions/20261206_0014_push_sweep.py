"""push sweep

`send_due_pushes` (issue 11) looks every minute for unread entries of the last day whose push
job was lost: a partial index on `updated_at` (unread entries only) finds that window without
a scan.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = "read_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_notifications_unread_updated",
        "notifications",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text(UNREAD),
        sqlite_where=sa.text(UNREAD),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_unread_updated", table_name="notifications")
