"""parties

Parties with their playback timeline, memberships, the queue and invite links. Enumerations are
VARCHAR(20) holding the member names (see watchparty/parties/models.py): no database enum types.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import watchparty.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum() -> sa.String:
    return sa.String(length=20)


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("visibility", _enum(), nullable=False),
        sa.Column("status", _enum(), nullable=False),
        sa.Column("host_id", sa.Uuid(), nullable=False),
        sa.Column("max_members", sa.Integer(), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("control_policy", _enum(), nullable=False),
        sa.Column("chat_enabled", sa.Boolean(), nullable=False),
        sa.Column("reactions_enabled", sa.Boolean(), nullable=False),
        sa.Column("wait_for_buffering", sa.Boolean(), nullable=False),
        sa.Column("buffering_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("scheduled_start", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("playback_state", _enum(), nullable=False),
        sa.Column("current_item_id", sa.Uuid(), nullable=True),
        sa.Column("position_seconds", sa.Double(), nullable=False),
        sa.Column("anchor_ms", sa.Double(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("waiting_for", sa.JSON(), nullable=False),
        sa.Column("wait_deadline_ms", sa.Double(), nullable=True),
        sa.Column("playback_updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["users.id"], name=op.f("fk_parties_host_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["playback_updated_by_id"],
            ["users.id"],
            name=op.f("fk_parties_playback_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
        sa.UniqueConstraint("code", name=op.f("uq_parties_code")),
    )
    op.create_index(op.f("ix_parties_host_id"), "parties", ["host_id"], unique=False)
    op.create_index(
        "ix_parties_visibility_status", "parties", ["visibility", "status"], unique=False
    )
    op.create_table(
        "invite_links",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_invite_links_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_invite_links_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invite_links_token_hash")),
    )
    op.create_index(op.f("ix_invite_links_party_id"), "invite_links", ["party_id"], unique=False)
    op.create_table(
        "party_members",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", _enum(), nullable=False),
        sa.Column("status", _enum(), nullable=False),
        sa.Column("joined_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("banned_until", watchparty.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ignore_wait", sa.Boolean(), nullable=False),
        sa.Column("last_drift_ms", sa.Double(), nullable=True),
        sa.Column("last_rtt_ms", sa.Double(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_party_members_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_party_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_members")),
        sa.UniqueConstraint("party_id", "user_id", name=op.f("uq_party_members_party_id")),
    )
    op.create_index(
        "ix_party_members_party_status", "party_members", ["party_id", "status"], unique=False
    )
    op.create_index(op.f("ix_party_members_user_id"), "party_members", ["user_id"], unique=False)
    op.create_table(
        "queue_items",
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("video_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=240), nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("added_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", watchparty.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_queue_items_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_queue_items_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_items")),
    )
    op.create_index(
        "ix_queue_items_party_position", "queue_items", ["party_id", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_queue_items_party_position", table_name="queue_items")
    op.drop_table("queue_items")
    op.drop_index(op.f("ix_party_members_user_id"), table_name="party_members")
    op.drop_index("ix_party_members_party_status", table_name="party_members")
    op.drop_table("party_members")
    op.drop_index(op.f("ix_invite_links_party_id"), table_name="invite_links")
    op.drop_table("invite_links")
    op.drop_index("ix_parties_visibility_status", table_name="parties")
    op.drop_index(op.f("ix_parties_host_id"), table_name="parties")
    op.drop_table("parties")
