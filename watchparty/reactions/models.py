"""Live reaction counters for the host's analytics (the reactions themselves are ephemeral).

Two tables of counters, each bumped with one atomic upsert per reaction
(`INSERT ... ON CONFLICT DO UPDATE SET count = count + 1`, on PostgreSQL and SQLite alike), so
concurrent reactions from any number of processes never lose a count:
- `reaction_totals`: per (party, emoji);
- `reaction_buckets`: per (party, queue item, position bucket of `BUCKET_SECONDS`, emoji), for
  hot spots. `item_id` has no foreign key: counts outlive an item removed from the queue.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base

BUCKET_SECONDS = 5
EMOJI_MAX_LENGTH = 16


class ReactionTotal(Base):
    __tablename__ = "reaction_totals"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    emoji: Mapped[str] = mapped_column(String(EMOJI_MAX_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ReactionBucket(Base):
    __tablename__ = "reaction_buckets"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)  # position // BUCKET_SECONDS
    emoji: Mapped[str] = mapped_column(String(EMOJI_MAX_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
