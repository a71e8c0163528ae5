"""search

The search outbox (written in the transaction of each indexed change), `users.searchable`
(opting out of search), and pg_trgm on PostgreSQL when the server offers it (the database
fallback's typo tolerance) (issue 14).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=10), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=10), nullable=False),
        sa.Column("enqueued_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_outbox")),
    )
    op.create_index("ix_search_outbox_enqueued_at", "search_outbox", ["enqueued_at"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("searchable", sa.Boolean(), server_default=sa.text("(true)"), nullable=False)
        )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).scalar()
        if available:
            # A role without the right to create it keeps the fallback on ILIKE (search/db.py).
            op.execute(
                "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; "
                "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$"
            )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("searchable")
    op.drop_index("ix_search_outbox_enqueued_at", table_name="search_outbox")
    op.drop_table("search_outbox")
