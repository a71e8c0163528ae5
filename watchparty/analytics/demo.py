"""`watchparty seed-demo`'s analytics: three days of generated raw events for the demo party,
its sample video and the demo users, so the dashboards have something to show once aggregated.

Deterministic (a seeded random generator, ids `demo-<day>-<n>`) and idempotent (ON CONFLICT DO
NOTHING on the event's key): running the seeder again adds nothing. On PostgreSQL the days'
partitions are created if missing (the same names and bounds as migration 0016 and the
partition job). Written straight into `analytics_events` (not through ingestion): these are
fixtures, with no request, IP or user agent behind them. `aggregate_now` then runs the
aggregation so the dashboards show them right away.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from watchparty.analytics.aggregate.run import SCOPES, aggregate_scope
from watchparty.analytics.models import AnalyticsEvent, EventSource
from watchparty.db import upsert_insert
from watchparty.kit.time import utcnow

DEMO_DAYS = 3
PARTY_MINUTES = 40  # one evening session a day
EMOJI = ("😂", "❤️", "😮", "👏")


async def _ensure_partitions(session: AsyncSession, days: list[date]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for day in days:
        await session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS analytics_events_{day:%Y%m%d} PARTITION OF "
                f"analytics_events FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )
        )


def _events_of_day(
    day: date,
    user_ids: list[uuid.UUID],
    party_id: uuid.UUID,
    video_id: uuid.UUID | None,
    now: datetime,
) -> list[dict[str, Any]]:
    rng = random.Random(f"watchparty-demo-{day}")  # noqa: S311 - fixtures, not secrets
    start = datetime.combine(day, time(hour=19), UTC)
    if start > now - timedelta(minutes=PARTY_MINUTES + 10):  # today: the hour just gone
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=PARTY_MINUTES + 10)
    rows: list[dict[str, Any]] = []

    def add(name: str, at: datetime, user_id: uuid.UUID, source: EventSource, **extra: Any) -> None:
        rows.append(
            {
                "day": day,
                "id": f"demo-{day:%Y%m%d}-{len(rows):05d}",
                "name": name,
                "source": source,
                "occurred_at": at,
                "received_at": at,
                "ingested_at": now,
                "user_id": user_id,
                "anonymous_id": None,
                "party_id": party_id,
                "video_id": extra.pop("video_id", None),
                "position_seconds": extra.pop("position", None),
                "properties": extra,
            }
        )

    server, client = EventSource.SERVER, EventSource.CLIENT
    for index, user_id in enumerate(user_ids):
        joined = start + timedelta(minutes=index * 2 + rng.randint(0, 3))
        left = start + timedelta(minutes=PARTY_MINUTES - rng.randint(0, 8))
        add("party.join", joined, user_id, server, role="HOST" if index == 0 else "MEMBER")
        add("party.online", joined, user_id, server)
        add("video.view", joined, user_id, client, video_id=video_id, provider="upload")
        minute = joined
        while minute < left:
            position = (minute - start).total_seconds()
            watched = rng.uniform(50, 60)
            add(
                "player.heartbeat",
                minute,
                user_id,
                client,
                video_id=video_id,
                position=position,
                watchedSeconds=round(watched, 1),
                playbackRate=1,
            )
            add(
                "player.report", minute, user_id, server, driftMs=rng.choice((20, 40, 80, 150, 600))
            )
            if rng.random() < 0.5:
                add("chat.message", minute + timedelta(seconds=20), user_id, server)
            if rng.random() < 0.4:
                add(
                    "reaction.send",
                    minute + timedelta(seconds=30),
                    user_id,
                    server,
                    video_id=video_id,
                    position=position + 30,
                    emoji=rng.choice(EMOJI),
                )
            if rng.random() < 0.05:
                add("player.buffering_start", minute + timedelta(seconds=40), user_id, client)
                add(
                    "player.buffering_end",
                    minute + timedelta(seconds=42),
                    user_id,
                    client,
                    durationMs=2000,
                )
            minute += timedelta(minutes=1)
        add("player.complete", left, user_id, client, video_id=video_id, position=position)
        add("party.offline", left, user_id, server)
        add("party.leave", left, user_id, server, reason="LEFT")
    return rows


async def seed_demo_events(
    session: AsyncSession,
    user_ids: list[uuid.UUID],
    party_id: uuid.UUID,
    video_id: uuid.UUID | None,
) -> int:
    """Insert the generated events of the last `DEMO_DAYS` days (today included); returns how
    many rows were generated (those already there are skipped). The caller commits."""
    now = utcnow()
    days = [now.date() - timedelta(days=n) for n in range(DEMO_DAYS - 1, -1, -1)]
    await _ensure_partitions(session, days)
    rows = [r for day in days for r in _events_of_day(day, user_ids, party_id, video_id, now)]
    insert = upsert_insert(session)
    for offset in range(0, len(rows), 500):
        batch = rows[offset : offset + 500]
        await session.execute(
            insert(AnalyticsEvent)
            .values(batch)
            .on_conflict_do_nothing(index_elements=["day", "id"])
        )
    return len(rows)


async def aggregate_now(sessionmaker: async_sessionmaker[AsyncSession], grace_days: float) -> None:
    """Aggregate every scope now, without the lag (the seeder just committed its events and
    nothing else writes in a demo set-up), so the dashboards show them at once."""
    for scope in SCOPES:
        await aggregate_scope(sessionmaker, scope, lag=timedelta(0), grace_days=grace_days)
