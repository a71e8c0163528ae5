"""polls and reaction counters

Polls with their options (vote counters on the option rows) and one ballot per member; live
reaction counters per (party, emoji) and per (party, queue item, 5-second bucket, emoji), bumped
by atomic upserts. See watchparty/polls/models.py and watchparty/reactions/models.py.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("allows_multiple", sa.Boolean(), nullable=False),
        sa.Column("closes_at", _time(), nullable=True),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("total_voters", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_polls_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_polls_party_id_parties"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    op.create_index("ix_polls_party_created", "polls", ["party_id", "created_at"], unique=False)
    op.create_table(
        "poll_options",
        sa.Column("poll_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=100), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_options_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_options")),
        sa.UniqueConstraint("poll_id", "position", name=op.f("uq_poll_options_poll_id")),
    )
    op.create_table(
        "poll_ballots",
        sa.Column("poll_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("option_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"],
            ["polls.id"],
            name=op.f("fk_poll_ballots_poll_id_polls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_poll_ballots_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_ballots")),
        sa.UniqueConstraint("poll_id", "user_id", name=op.f("uq_poll_ballots_poll_id")),
    )
    op.create_index(op.f("ix_poll_ballots_user_id"), "poll_ballots", ["user_id"], unique=False)
    op.create_table(
        "reaction_totals",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_reaction_totals_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", "emoji", name=op.f("pk_reaction_totals")),
    )
    op.create_table(
        "reaction_buckets",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_reaction_buckets_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "party_id", "item_id", "bucket", "emoji", name=op.f("pk_reaction_buckets")
        ),
    )


def downgrade() -> None:
    op.drop_table("reaction_buckets")
    op.drop_table("reaction_totals")
    op.drop_index(op.f("ix_poll_ballots_user_id"), table_name="poll_ballots")
    op.drop_table("poll_ballots")
    op.drop_table("poll_options")
    op.drop_index("ix_polls_party_created", table_name="polls")
    op.drop_table("polls")
