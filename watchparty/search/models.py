"""The search outbox: one row per changed entity, written in the transaction of the change
(`outbox.py`), deleted only once Typesense acknowledged the document (`indexing.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base
from watchparty.kit.time import utcnow


class Entity(StrEnum):
    PARTY = "PARTY"
    VIDEO = "VIDEO"
    USER = "USER"


class SearchOutbox(Base):
    __tablename__ = "search_outbox"
    __table_args__ = (Index("ix_search_outbox_enqueued_at", "enqueued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(10))
    entity_id: Mapped[uuid.UUID]
    # "upsert" or "delete": a hint; the indexer reads the row's current state either way
    op: Mapped[str] = mapped_column(String(10))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
