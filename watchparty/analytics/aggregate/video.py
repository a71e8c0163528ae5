"""Per video: `analytics_video_days` (the touched days of the touched videos) and
`analytics_video_positions` (all time, the touched videos), recomputed from their events."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.analytics.aggregate.sql import (
    MAX_POSITION_SECONDS,
    MAX_WATCHED_SECONDS,
    Dialect,
    batches,
    days_param,
    ids_param,
    position_ok,
    touched_days,
)
from watchparty.analytics.models import POSITION_BUCKET_SECONDS, VideoDay, VideoPosition

INSERT_CHUNK = 2000


async def touched(
    session: AsyncSession, low: datetime, high: datetime
) -> dict[uuid.UUID, set[date]]:
    """The existing videos with events ingested in (low, high], and the days of those events."""
    return await touched_days(session, "video_id", "videos", low, high)


def _days_sql(d: Dialect) -> str:
    watched = d.clamp(d.num("watchedSeconds"), 0, MAX_WATCHED_SECONDS)
    return f"""
    INSERT INTO analytics_video_days (
        video_id, day, views, unique_viewers, watch_seconds, completions)
    SELECT e.video_id, e.day,
           SUM(CASE WHEN e.name = 'video.view' THEN 1 ELSE 0 END),
           COUNT(DISTINCT e.viewer),
           COALESCE(SUM(e.watched), 0),
           SUM(CASE WHEN e.name = 'player.complete' THEN 1 ELSE 0 END)
    FROM (
        SELECT video_id, day, name, {d.viewer()} AS viewer,
               CASE WHEN name = 'player.heartbeat' THEN {watched} END AS watched
        FROM analytics_events
        WHERE video_id IN :ids AND day IN :days
    ) e
    JOIN videos ON videos.id = e.video_id
    GROUP BY e.video_id, e.day
    """


def _plays_sql(d: Dialect) -> str:
    return f"""
    SELECT video_id, bucket, COUNT(DISTINCT viewer), COUNT(*)
    FROM (
        SELECT video_id, {d.bucket("position_seconds")} AS bucket, {d.viewer()} AS viewer
        FROM analytics_events
        WHERE video_id IN :ids AND name = 'player.heartbeat' AND {position_ok()}
    ) h
    GROUP BY video_id, bucket
    """


def _seeks_sql(d: Dialect) -> str:
    # A forward seek skips every bucket strictly between the one it left and the one it landed
    # in: [lo, hi) with lo = bucket(from) + size, hi = bucket(to).
    size = POSITION_BUCKET_SECONDS
    return f"""
    SELECT video_id, lo, hi, COUNT(*)
    FROM (
        SELECT video_id, {d.bucket("f")} + {size} AS lo, {d.bucket("t")} AS hi
        FROM (
            SELECT video_id, {d.num("fromSeconds")} AS f, {d.num("toSeconds")} AS t
            FROM analytics_events WHERE video_id IN :ids AND name = 'player.seek'
        ) s
        WHERE f >= 0 AND t > f AND t < {MAX_POSITION_SECONDS}
    ) k
    WHERE hi > lo
    GROUP BY video_id, lo, hi
    """


async def recompute(
    session: AsyncSession, d: Dialect, touched_days: dict[uuid.UUID, set[date]]
) -> None:
    ids = sorted(touched_days)
    for batch in batches(ids):
        days = sorted(set().union(*(touched_days[video_id] for video_id in batch)))
        params = {"ids": batch, "days": days}
        await session.execute(
            text(
                "DELETE FROM analytics_video_days WHERE video_id IN :ids AND day IN :days"
            ).bindparams(ids_param(), days_param()),
            params,
        )
        await session.execute(text(_days_sql(d)).bindparams(ids_param(), days_param()), params)
        await _positions(session, d, batch)


async def _positions(session: AsyncSession, d: Dialect, ids: list[uuid.UUID]) -> None:
    await session.execute(
        text("DELETE FROM analytics_video_positions WHERE video_id IN :ids").bindparams(
            ids_param()
        ),
        {"ids": ids},
    )
    # bucket -> [viewers, plays, skips], per video
    figures: dict[uuid.UUID, dict[int, list[int]]] = defaultdict(dict)
    plays = await session.execute(
        text(_plays_sql(d)).bindparams(ids_param()).columns(video_id=VideoDay.video_id.type),
        {"ids": ids},
    )
    for video_id, bucket, viewers, count in plays:
        figures[video_id][int(bucket)] = [int(viewers), int(count), 0]
    seeks = await session.execute(
        text(_seeks_sql(d)).bindparams(ids_param()).columns(video_id=VideoDay.video_id.type),
        {"ids": ids},
    )
    for video_id, lo, hi, count in seeks:
        buckets = figures[video_id]
        for bucket in range(int(lo), int(hi), POSITION_BUCKET_SECONDS):
            buckets.setdefault(bucket, [0, 0, 0])[2] += int(count)
    rows = [
        {"video_id": video_id, "bucket": bucket, "viewers": v, "plays": p, "skips": s}
        for video_id, buckets in figures.items()
        for bucket, (v, p, s) in sorted(buckets.items())
    ]
    existing = await session.execute(
        text("SELECT id FROM videos WHERE id IN :ids")
        .bindparams(ids_param())
        .columns(id=VideoDay.video_id.type),
        {"ids": ids},
    )
    alive = set(existing.scalars())
    rows = [row for row in rows if row["video_id"] in alive]
    for start in range(0, len(rows), INSERT_CHUNK):
        await session.execute(insert(VideoPosition), rows[start : start + INSERT_CHUNK])
