"""party reminders

The sent-markers of scheduled parties' reminders (issue 11): one row per party, kind and
scheduled start, unique, so PARTY_STARTING_SOON and PARTY_STARTED fire at most once per start
time whatever the jobs, workers and sweeps do; and an index for the sweep that finds
due ones.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "party_reminders",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("scheduled_start", _time(), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("handled_at", _time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_party_reminders_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_reminders")),
        sa.UniqueConstraint(
            "party_id", "kind", "scheduled_start", name=op.f("uq_party_reminders_party_id")
        ),
    )
    # The sweep's question: SCHEDULED parties whose start (or reminder) is due.
    op.create_index(
        "ix_parties_status_scheduled_start", "parties", ["status", "scheduled_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_parties_status_scheduled_start", table_name="parties")
    op.drop_table("party_reminders")
