"""Chat moderation: mutes and the moderation log.

A mute is keyed by (party, user), not by membership row, so it outlives leaving and rejoining
(like a ban). The log is append-only; actors and targets are kept as ids that turn NULL when
the account is deleted, so the entry (what happened, when, why) survives its people.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin

REASON_MAX_LENGTH = 500


class ModerationAction(StrEnum):
    HIDE_MESSAGE = "HIDE_MESSAGE"
    UNHIDE_MESSAGE = "UNHIDE_MESSAGE"
    DELETE_MESSAGE = "DELETE_MESSAGE"
    MUTE = "MUTE"
    UNMUTE = "UNMUTE"
    KICK = "KICK"
    BAN = "BAN"
    UNBAN = "UNBAN"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    SET_ROLE = "SET_ROLE"
    TRANSFER_HOST = "TRANSFER_HOST"
    SLOW_MODE = "SLOW_MODE"


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


class ModerationLogEntry(IdMixin, TimestampMixin, Base):
    __tablename__ = "party_moderation_log"
    __table_args__ = (Index("ix_party_moderation_log_party_created", "party_id", "created_at"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[ModerationAction] = mapped_column(
        Enum(ModerationAction, native_enum=False, create_constraint=False, length=20)
    )
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    target_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    # The text of a hidden message when it was hidden (shown to moderators while the message is
    # not deleted: deletion takes the content out of every read, the log included).
    body_snapshot: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    until: Mapped[datetime | None]
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
