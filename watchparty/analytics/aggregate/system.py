"""The system's figures per UTC day: `analytics_daily`, recomputed for the touched days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.analytics.aggregate.sql import (
    MAX_WATCHED_SECONDS,
    Dialect,
    batches,
    days_param,
    when_param,
)
from watchparty.analytics.models import SystemDay


async def touched(session: AsyncSession, low: datetime, high: datetime) -> list[date]:
    rows = await session.execute(
        text(
            "SELECT DISTINCT day FROM analytics_events "
            "WHERE ingested_at > :low AND ingested_at <= :high"
        )
        .bindparams(when_param("low"), when_param("high"))
        .columns(day=SystemDay.day.type),
        {"low": low, "high": high},
    )
    return sorted(rows.scalars())


def _events_sql(d: Dialect) -> str:
    watched = d.clamp(d.num("watchedSeconds"), 0, MAX_WATCHED_SECONDS)
    return f"""
    SELECT day,
           COUNT(DISTINCT user_id),
           COUNT(DISTINCT CASE WHEN name = 'party.create' THEN party_id END),
           COALESCE(SUM(CASE WHEN name = 'player.heartbeat' THEN {watched} END), 0),
           COUNT(*),
           SUM(CASE WHEN name = 'player.buffering_start' THEN 1 ELSE 0 END),
           SUM(CASE WHEN name = 'player.error' THEN 1 ELSE 0 END)
    FROM analytics_events
    WHERE day IN :days
    GROUP BY day
    """


# Mirrors billing's `entitlements.entitles` (read as SQL here: analytics imports no domain).
PREMIUM_SQL = """
SELECT COUNT(DISTINCT user_id) FROM subscriptions
WHERE plan <> 'FREE' AND (
    (source = 'COMP' AND status IN ('TRIALING', 'ACTIVE')
        AND (comp_until IS NULL OR comp_until > :now))
    OR (source <> 'COMP' AND status IN ('TRIALING', 'ACTIVE'))
    OR (source <> 'COMP' AND status = 'PAST_DUE'
        AND (past_due_since IS NULL OR past_due_since > :grace_start))
)
"""


async def premium_now(session: AsyncSession, now: datetime, grace_days: float) -> int:
    count = await session.scalar(
        text(PREMIUM_SQL).bindparams(when_param("now"), when_param("grace_start")),
        {"now": now, "grace_start": now - timedelta(days=grace_days)},
    )
    return int(count or 0)


async def recompute(
    session: AsyncSession, d: Dialect, days: list[date], now: datetime, grace_days: float
) -> None:
    """Rebuild the days' rows. `premium_users` is a snapshot: today's is counted now; a past
    day keeps the value it had (the subscriptions table has no history), and one seen for the
    first time gets the current count."""
    today = now.astimezone(UTC).date()
    premium = await premium_now(session, now, grace_days)
    for batch in batches(days):
        stored = await session.execute(
            select(SystemDay.day, SystemDay.premium_users).where(SystemDay.day.in_(batch))
        )
        kept = {day: premium_users for day, premium_users in stored}
        figures = {
            row[0]: row
            for row in await session.execute(
                text(_events_sql(d)).bindparams(days_param()).columns(day=SystemDay.day.type),
                {"days": batch},
            )
        }
        rows = []
        for day in batch:
            start = datetime.combine(day, time(), UTC)
            new_users = await session.scalar(
                text(
                    "SELECT COUNT(*) FROM users WHERE created_at >= :start AND created_at < :end"
                ).bindparams(when_param("start"), when_param("end")),
                {"start": start, "end": start + timedelta(days=1)},
            )
            _, active, parties, watch, events, buffering, errors = figures.get(
                day, (day, 0, 0, 0.0, 0, 0, 0)
            )
            rows.append(
                {
                    "day": day,
                    "active_users": int(active),
                    "new_users": int(new_users or 0),
                    "parties_created": int(parties),
                    "watch_seconds": float(watch),
                    "premium_users": premium if day >= today or day not in kept else kept[day],
                    "events": int(events),
                    "buffering_events": int(buffering or 0),
                    "player_errors": int(errors or 0),
                }
            )
        await session.execute(delete(SystemDay).where(SystemDay.day.in_(batch)))
        if rows:
            await session.execute(insert(SystemDay), rows)
