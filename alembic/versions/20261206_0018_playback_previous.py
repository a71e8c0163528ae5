"""playback previous segment

`parties.playback_previous`: the timeline segment a change anchored in the future replaces, which
still describes the playhead until the change's anchor (SYNC.md, issue 15). Null for every
existing row (their anchors are past or they kept the old "hold until the anchor" rule).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.add_column(sa.Column("playback_previous", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("playback_previous")
