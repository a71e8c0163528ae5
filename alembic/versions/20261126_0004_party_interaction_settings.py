"""party interaction settings

Settings the chat, poll and screen-share features read: slow mode (seconds between a member's
messages, 0 = off), who may create polls, and how many members may share a screen at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.add_column(
            sa.Column("slow_mode_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "poll_policy", sa.String(length=20), nullable=False, server_default="MODERATORS"
            )
        )
        batch.add_column(
            sa.Column("max_screen_shares", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("parties") as batch:
        batch.alter_column("slow_mode_seconds", server_default=None)
        batch.alter_column("poll_policy", server_default=None)
        batch.alter_column("max_screen_shares", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("max_screen_shares")
        batch.drop_column("poll_policy")
        batch.drop_column("slow_mode_seconds")
