"""Chat messages, their reactions, and the per-party message counter.

`seq` orders a party's messages (the history cursor). It comes from one upsert on the party's
`chat_counters` row in the sending transaction: the row lock is held until commit, so two
processes never hand out the same number and a message with a higher `seq` never commits before
one with a lower `seq` of the same party (history order equals stream order).

A deleted message keeps its row (a tombstone: `body` None, `deleted_at` set) so that replies and
history cursors stay meaningful. Relationships are deliberately absent (load explicitly).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.kit.time import utcnow

BODY_MAX_LENGTH = 2000
CLIENT_ID_MAX_LENGTH = 64
HIDDEN_REASON_MAX_LENGTH = 500


class ChatMessage(IdMixin, TimestampMixin, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_party_seq", "party_id", "seq", unique=True),
        # NULL client ids never collide (SQL NULLs are distinct): only retries are deduplicated.
        UniqueConstraint("author_id", "party_id", "client_id"),
    )

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str | None] = mapped_column(Text)  # None once deleted
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    client_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_MAX_LENGTH))
    seq: Mapped[int] = mapped_column(BigInteger)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    hidden_reason: Mapped[str | None] = mapped_column(String(HIDDEN_REASON_MAX_LENGTH))

    @property
    def is_tombstone(self) -> bool:
        """Deleted or hidden: no body, reactions or reply are shown."""
        return self.deleted_at is not None or self.hidden_at is not None


class MessageReaction(Base):
    """One member's emoji on one message (reacting twice is reacting once)."""

    __tablename__ = "chat_message_reactions"

    # The primary key is the uniqueness rule: one (message, user, emoji) row at most.
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatCounter(Base):
    """The last `seq` handed out in a party (see the module docstring)."""

    __tablename__ = "chat_counters"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
