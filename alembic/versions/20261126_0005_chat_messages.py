"""chat messages

Chat messages (soft-deleted tombstones keep their row), their emoji reactions, and the per-party
counter that hands out each message's `seq` (the history cursor).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chat_counters",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_chat_counters_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_chat_counters")),
    )
    op.create_table(
        "chat_messages",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("reply_to_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("edited_at", _time(), nullable=True),
        sa.Column("deleted_at", _time(), nullable=True),
        sa.Column("hidden_at", _time(), nullable=True),
        sa.Column("hidden_by_id", sa.Uuid(), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_chat_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["hidden_by_id"],
            ["users.id"],
            name=op.f("fk_chat_messages_hidden_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_chat_messages_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reply_to_id"],
            ["chat_messages.id"],
            name=op.f("fk_chat_messages_reply_to_id_chat_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "author_id", "party_id", "client_id", name=op.f("uq_chat_messages_author_id")
        ),
    )
    op.create_index("ix_chat_messages_party_seq", "chat_messages", ["party_id", "seq"], unique=True)
    op.create_table(
        "chat_message_reactions",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("emoji", sa.String(length=32), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["chat_messages.id"],
            name=op.f("fk_chat_message_reactions_message_id_chat_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_chat_message_reactions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "message_id", "user_id", "emoji", name=op.f("pk_chat_message_reactions")
        ),
    )
    op.create_index(
        op.f("ix_chat_message_reactions_user_id"),
        "chat_message_reactions",
        ["user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_message_reactions_user_id"), table_name="chat_message_reactions")
    op.drop_table("chat_message_reactions")
    op.drop_index("ix_chat_messages_party_seq", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_table("chat_counters")
