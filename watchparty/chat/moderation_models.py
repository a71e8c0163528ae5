"""Chat moderation: mutes.

A mute is keyed by (party, user), not by membership row, so it outlives leaving and rejoining
(like a ban). The moderation log every action lands in is parties' (`parties.models.
ModerationLogEntry`, written with `parties.moderation_log.record_action`): kicks and bans are
logged there too, and parties does not import chat.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.parties.models import REASON_MAX_LENGTH


class PartyMute(IdMixin, TimestampMixin, Base):
    """`user_id` may not post chat messages in `party_id` until `until` (None: until unmuted).
    A row past its `until` has lapsed; it is replaced by the next mute or removed by unmute."""

    __tablename__ = "party_mutes"
    __table_args__ = (UniqueConstraint("party_id", "user_id"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    muted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
