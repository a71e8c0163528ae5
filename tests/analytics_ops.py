"""Analytics test helpers: raw events written straight into `analytics_events` (with the
`ingested_at` a test chooses; the ingestion path has its own tests), and reading aggregates."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from tests.support import Api
from watchparty.analytics.catalog import SERVER_NAMES
from watchparty.analytics.models import AnalyticsEvent, EventSource
from watchparty.events import decode
from watchparty.kit.time import utcnow
from watchparty.realtime.models import EventLogEntry


def event(
    name: str,
    at: datetime,
    *,
    user: str | None = None,
    anon: str | None = None,
    party: str | None = None,
    video: str | None = None,
    position: float | None = None,
    ingested: datetime | None = None,
    **properties: Any,
) -> dict[str, Any]:
    """One raw event row (ids as strings, as the API gives them); `ingested` defaults to now."""
    return {
        "day": at.date(),
        "id": uuid.uuid4().hex,
        "name": name,
        "source": EventSource.SERVER if name in SERVER_NAMES else EventSource.CLIENT,
        "occurred_at": at,
        "received_at": at,
        "ingested_at": ingested or utcnow(),
        "user_id": uuid.UUID(user) if user else None,
        "anonymous_id": anon,
        "party_id": uuid.UUID(party) if party else None,
        "video_id": uuid.UUID(video) if video else None,
        "position_seconds": position,
        "properties": properties,
    }


async def ensure_partitions(api: Api, days: set[date]) -> None:
    """PostgreSQL: the day partitions the events need (the partition job's work in production)."""
    async with api.state.sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        for day in sorted(days):
            await session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS analytics_events_{day:%Y%m%d} PARTITION OF "
                    f"analytics_events FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
                )
            )
        await session.commit()


async def insert_events(api: Api, rows: list[dict[str, Any]]) -> None:
    await ensure_partitions(api, {row["day"] for row in rows})
    async with api.state.sessionmaker() as session:
        await session.execute(insert(AnalyticsEvent), rows)
        await session.commit()


async def rows(api: Api, model: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
    """An aggregate table's rows (as dicts of its columns), filtered, ordered (by default by
    the primary key)."""
    columns = [c.key for c in model.__table__.columns]
    async with api.state.sessionmaker() as session:
        query = select(model).where(*where)
        if order is None:
            order = tuple(model.__table__.primary_key.columns)
        query = query.order_by(*order) if isinstance(order, tuple) else query.order_by(order)
        found = await session.scalars(query)
        return [{key: getattr(row, key) for key in columns} for row in found]


async def job_statuses(api: Api, job_id: str) -> list[tuple[str, float]]:
    """The (status, progress) of every change recorded on the job's channel, oldest first."""
    async with api.state.sessionmaker() as session:
        found = await session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.channel == f"analytics_job:{job_id}")
            .order_by(EventLogEntry.seq)
        )
        events = [decode(json.loads(row.payload)) for row in found]
    return [(e.job["status"], e.job["progress"]) for e in events]  # type: ignore[union-attr]
