"""chat moderation

Mutes (per party and user, so they outlive leaving and rejoining) and the party moderation log
(who did what to whom, when and why). `action` is a VARCHAR(20) holding the member name of
`ModerationAction` (see watchparty/chat/moderation_models.py): no database enum type.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> watchparty.db.UTCDateTime:
    return watchparty.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "party_mutes",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("muted_by_id", sa.Uuid(), nullable=True),
        sa.Column("until", _time(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["muted_by_id"],
            ["users.id"],
            name=op.f("fk_party_mutes_muted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_party_mutes_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_party_mutes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_mutes")),
        sa.UniqueConstraint("party_id", "user_id", name=op.f("uq_party_mutes_party_id")),
    )
    op.create_index(op.f("ix_party_mutes_user_id"), "party_mutes", ["user_id"], unique=False)
    op.create_table(
        "party_moderation_log",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=True),
        sa.Column("target_message_id", sa.Uuid(), nullable=True),
        sa.Column("body_snapshot", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("until", _time(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_party_moderation_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_party_moderation_log_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_message_id"],
            ["chat_messages.id"],
            name=op.f("fk_party_moderation_log_target_message_id_chat_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
            name=op.f("fk_party_moderation_log_target_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_moderation_log")),
    )
    op.create_index(
        "ix_party_moderation_log_party_created",
        "party_moderation_log",
        ["party_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_party_moderation_log_party_created", table_name="party_moderation_log")
    op.drop_table("party_moderation_log")
    op.drop_index(op.f("ix_party_mutes_user_id"), table_name="party_mutes")
    op.drop_table("party_mutes")
