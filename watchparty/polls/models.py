"""Polls: the poll, its options (with their vote counters) and one ballot per member.

Counters live on the option rows (`votes`) and the poll row (`total_voters`) so that results are
read in one small query; they are only changed while the poll row is locked (see
`polls.service._lock_poll`), which serializes votes per poll on every backend. A ballot stores
the chosen option ids as a JSON list (at most `MAX_OPTIONS` entries).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.kit.time import utcnow

QUESTION_MAX_LENGTH = 300
OPTION_MAX_LENGTH = 100
MIN_OPTIONS = 2
MAX_OPTIONS = 10


class Poll(IdMixin, TimestampMixin, Base):
    __tablename__ = "polls"
    __table_args__ = (Index("ix_polls_party_created", "party_id", "created_at"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(QUESTION_MAX_LENGTH))
    allows_multiple: Mapped[bool] = mapped_column(default=False)
    closes_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    total_voters: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def closed_by(self, now: datetime) -> datetime | None:
        """When it closed: explicitly, or at `closes_at` once that has passed (even when the
        closing job is late)."""
        if self.closed_at is not None:
            return self.closed_at
        if self.closes_at is not None and self.closes_at <= now:
            return self.closes_at
        return None


class PollOption(IdMixin, Base):
    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    poll_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(OPTION_MAX_LENGTH))
    votes: Mapped[int] = mapped_column(Integer, default=0)


class PollBallot(IdMixin, TimestampMixin, Base):
    """A member's current choice in a poll (one per member; replaced when they vote again)."""

    __tablename__ = "poll_ballots"
    __table_args__ = (UniqueConstraint("poll_id", "user_id"),)

    poll_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    # SET NULL: a deleted account's ballot keeps counting, so the counters stay exact.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    option_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
