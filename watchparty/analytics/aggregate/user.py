"""Per user and UTC day: `analytics_user_days`, recomputed for the touched days of the touched
users (a row exists for every day the user sent any event, zeros included)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.analytics.aggregate.sql import (
    MAX_WATCHED_SECONDS,
    Dialect,
    batches,
    days_param,
    ids_param,
    touched_days,
)


async def touched(
    session: AsyncSession, low: datetime, high: datetime
) -> dict[uuid.UUID, set[date]]:
    """The existing users with events ingested in (low, high], and the days of those events."""
    return await touched_days(session, "user_id", "users", low, high)


def _days_sql(d: Dialect) -> str:
    watched = d.clamp(d.num("watchedSeconds"), 0, MAX_WATCHED_SECONDS)
    return f"""
    INSERT INTO analytics_user_days (
        user_id, day, watch_seconds, parties_hosted, parties_joined, messages_sent,
        reactions_sent)
    SELECT e.user_id, e.day,
           COALESCE(SUM(e.watched), 0),
           COUNT(DISTINCT CASE WHEN e.name = 'party.create' THEN e.party_id END),
           COUNT(DISTINCT CASE WHEN e.name = 'party.join' THEN e.party_id END),
           SUM(CASE WHEN e.name = 'chat.message' THEN 1 ELSE 0 END),
           SUM(CASE WHEN e.name = 'reaction.send' THEN 1 ELSE 0 END)
    FROM (
        SELECT user_id, day, name, party_id,
               CASE WHEN name = 'player.heartbeat' THEN {watched} END AS watched
        FROM analytics_events
        WHERE user_id IN :ids AND day IN :days
    ) e
    JOIN users ON users.id = e.user_id
    GROUP BY e.user_id, e.day
    """


async def recompute(
    session: AsyncSession, d: Dialect, touched_days: dict[uuid.UUID, set[date]]
) -> None:
    for batch in batches(sorted(touched_days)):
        days = sorted(set().union(*(touched_days[user_id] for user_id in batch)))
        params = {"ids": batch, "days": days}
        await session.execute(
            text(
                "DELETE FROM analytics_user_days WHERE user_id IN :ids AND day IN :days"
            ).bindparams(ids_param(), days_param()),
            params,
        )
        await session.execute(text(_days_sql(d)).bindparams(ids_param(), days_param()), params)
