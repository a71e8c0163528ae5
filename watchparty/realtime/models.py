"""The event log tables.

`event_channels` holds one row per channel with the last sequence number handed out; the row is
the per-channel lock that makes sequence numbers gapless and commit-ordered. `event_log` holds the
retained events themselves, keyed by (channel, seq).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base

CHANNEL_MAX_LENGTH = 200


class EventChannel(Base):
    __tablename__ = "event_channels"

    channel: Mapped[str] = mapped_column(String(CHANNEL_MAX_LENGTH), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class EventLogEntry(Base):
    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_created_at", "created_at"),)

    channel: Mapped[str] = mapped_column(String(CHANNEL_MAX_LENGTH), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # JSON text, decoded once per process by the reader that fans it out.
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
