"""Per party: `analytics_party_stats`, `_minutes`, `_hotspots`, `_drift`, recomputed from all
of a touched party's events (see the package's docstring for what each figure means)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.analytics.aggregate.sql import (
    MAX_BUFFERING_MS,
    MAX_WATCHED_SECONDS,
    Dialect,
    drift_bucket,
    ids_param,
    percentile,
    position_ok,
    when_param,
)
from watchparty.analytics.models import PartyStats

TABLES = (
    "analytics_party_stats",
    "analytics_party_minutes",
    "analytics_party_hotspots",
    "analytics_party_drift",
)

VIEWER_EVENTS = "('party.online', 'party.join')"


def _events(d: Dialect) -> str:
    """The touched parties' events with their numbers read once. A client event counts for a
    party only when its user is one the server saw join or come online there: anybody may
    send any `partyId`, and anonymous visitors are never members, so neither can inflate a
    party's figures."""
    watched = d.clamp(d.num("watchedSeconds"), 0, MAX_WATCHED_SECONDS)
    buffering = d.clamp(d.num("durationMs"), 0, MAX_BUFFERING_MS)
    drift = f"ABS({d.num('driftMs')})"
    return f"""
    members AS (
        SELECT DISTINCT party_id, user_id FROM analytics_events
        WHERE party_id IN :ids AND source = 'SERVER' AND name IN {VIEWER_EVENTS}
          AND user_id IS NOT NULL
    ),
    e AS (
        SELECT party_id, id, name, source, user_id, anonymous_id, occurred_at,
               {d.minute()} AS minute,
               CASE WHEN name = 'player.heartbeat' THEN {watched} END AS watched,
               CASE WHEN name = 'player.buffering_end' THEN {buffering} END AS buffering_ms,
               CASE WHEN name = 'player.report' THEN {drift} END AS drift
        FROM analytics_events a
        WHERE party_id IN :ids
          AND (source = 'SERVER' OR EXISTS (
              SELECT 1 FROM members m WHERE m.party_id = a.party_id AND m.user_id = a.user_id))
    )"""


# A viewer's presence is its last online/offline event (duplicates change nothing): `delta` is
# +1 when it comes online, -1 when it goes offline, 0 otherwise; `viewers` is the running sum.
RUNNING = """
    presence AS (
        SELECT party_id, id, occurred_at, minute, state
               - COALESCE(LAG(state) OVER (
                   PARTITION BY party_id, user_id, anon ORDER BY occurred_at, id), 0) AS delta
        FROM (
            SELECT party_id, id, occurred_at, minute, user_id,
                   CASE WHEN user_id IS NULL THEN anonymous_id END AS anon,
                   CASE WHEN name = 'party.online' THEN 1 ELSE 0 END AS state
            FROM e
            WHERE name IN ('party.online', 'party.offline')
              AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL)
        ) s
    ),
    running AS (
        SELECT party_id, id, occurred_at, minute, delta,
               SUM(delta) OVER (
                   PARTITION BY party_id ORDER BY occurred_at, id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS viewers
        FROM presence
    )"""


def _stats_sql(d: Dialect) -> str:
    seen = f"(name IN {VIEWER_EVENTS} OR source = 'CLIENT')"
    if d.pg:
        drift_cte = """,
    drift AS (
        SELECT party_id,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY drift) AS p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY drift) AS p90,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY drift) AS p99
        FROM e WHERE drift IS NOT NULL GROUP BY party_id
    )"""
        drift_cols, drift_join = (
            "d.p50, d.p90, d.p99",
            "LEFT JOIN drift d ON d.party_id = f.party_id",
        )
    else:
        drift_cte, drift_cols, drift_join = "", "NULL, NULL, NULL", ""
    return f"""
    WITH {_events(d)},
    {RUNNING},
    peak AS (SELECT party_id, MAX(viewers) AS peak FROM running GROUP BY party_id),
    figures AS (
        SELECT party_id,
               COUNT(DISTINCT CASE WHEN {seen} THEN user_id END)
               + COUNT(DISTINCT CASE WHEN {seen} AND user_id IS NULL THEN anonymous_id END)
                   AS unique_viewers,
               COALESCE(SUM(watched), 0) AS watch_seconds,
               SUM(CASE WHEN name = 'chat.message' THEN 1 ELSE 0 END) AS chat_messages,
               SUM(CASE WHEN name = 'reaction.send' THEN 1 ELSE 0 END) AS reactions,
               SUM(CASE WHEN name = 'player.buffering_start' THEN 1 ELSE 0 END) AS buffering,
               COALESCE(SUM(buffering_ms), 0) / 1000.0 AS buffering_seconds,
               COUNT(drift) AS drift_reports,
               MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at
        FROM e GROUP BY party_id
    ){drift_cte}
    INSERT INTO analytics_party_stats (
        party_id, unique_viewers, peak_viewers, watch_seconds, chat_messages, reactions,
        buffering_events, buffering_seconds, drift_reports, drift_p50_ms, drift_p90_ms,
        drift_p99_ms, first_event_at, last_event_at, updated_at)
    SELECT f.party_id, f.unique_viewers, COALESCE(p.peak, 0), f.watch_seconds, f.chat_messages,
           f.reactions, f.buffering, f.buffering_seconds, f.drift_reports, {drift_cols},
           f.first_at, f.last_at, :now
    FROM figures f
    JOIN parties ON parties.id = f.party_id
    LEFT JOIN peak p ON p.party_id = f.party_id
    {drift_join}
    """


def _minutes_sql(d: Dialect) -> str:
    # Minutes with activity only (sparse); `viewers` of a minute without presence events is
    # carried from the last minute that had some (`grp` counts the known values so far).
    return f"""
    WITH {_events(d)},
    {RUNNING},
    pm AS (
        SELECT party_id, minute,
               SUM(CASE WHEN delta = 1 THEN 1 ELSE 0 END) AS joins,
               SUM(CASE WHEN delta = -1 THEN 1 ELSE 0 END) AS leaves
        FROM running GROUP BY party_id, minute
    ),
    pend AS (
        SELECT party_id, minute, viewers FROM (
            SELECT party_id, minute, viewers, ROW_NUMBER() OVER (
                PARTITION BY party_id, minute ORDER BY occurred_at DESC, id DESC) AS rn
            FROM running
        ) r WHERE rn = 1
    ),
    act AS (
        SELECT party_id, minute,
               SUM(CASE WHEN name = 'chat.message' THEN 1 ELSE 0 END) AS chat,
               SUM(CASE WHEN name = 'reaction.send' THEN 1 ELSE 0 END) AS reactions,
               SUM(CASE WHEN name = 'player.buffering_start' THEN 1 ELSE 0 END) AS buffering
        FROM e
        WHERE name IN ('chat.message', 'reaction.send', 'player.buffering_start')
        GROUP BY party_id, minute
    ),
    mins AS (SELECT party_id, minute FROM pm UNION SELECT party_id, minute FROM act),
    joined AS (
        SELECT m.party_id, m.minute, COALESCE(pm.joins, 0) AS joins,
               COALESCE(pm.leaves, 0) AS leaves, pend.viewers AS v,
               COALESCE(act.chat, 0) AS chat, COALESCE(act.reactions, 0) AS reactions,
               COALESCE(act.buffering, 0) AS buffering
        FROM mins m
        LEFT JOIN pm ON pm.party_id = m.party_id AND pm.minute = m.minute
        LEFT JOIN pend ON pend.party_id = m.party_id AND pend.minute = m.minute
        LEFT JOIN act ON act.party_id = m.party_id AND act.minute = m.minute
    ),
    grouped AS (
        SELECT joined.*, COUNT(v) OVER (
            PARTITION BY party_id ORDER BY minute ROWS UNBOUNDED PRECEDING) AS grp
        FROM joined
    )
    INSERT INTO analytics_party_minutes (
        party_id, minute, joins, leaves, viewers, chat_messages, reactions, buffering_events)
    SELECT g.party_id, g.minute, g.joins, g.leaves,
           COALESCE(MAX(g.v) OVER (PARTITION BY g.party_id, g.grp), 0),
           g.chat, g.reactions, g.buffering
    FROM grouped g
    JOIN parties ON parties.id = g.party_id
    """


def _hotspots_sql(d: Dialect) -> str:
    return f"""
    INSERT INTO analytics_party_hotspots (party_id, video_id, bucket, reactions)
    SELECT r.party_id, {d.one_uuid("r.video_id")}, r.bucket, COUNT(*)
    FROM (
        SELECT party_id, video_id, {d.bucket("position_seconds")} AS bucket
        FROM analytics_events
        WHERE party_id IN :ids AND name = 'reaction.send' AND {position_ok()}
    ) r
    JOIN parties ON parties.id = r.party_id
    GROUP BY r.party_id, r.bucket
    """


def _drift_sql(d: Dialect) -> str:
    drift = f"ABS({d.num('driftMs')})"
    return f"""
    INSERT INTO analytics_party_drift (party_id, bucket_ms, reports)
    SELECT r.party_id, r.bucket_ms, COUNT(*)
    FROM (
        SELECT party_id, {drift_bucket("drift")} AS bucket_ms
        FROM (
            SELECT party_id, {drift} AS drift FROM analytics_events
            WHERE party_id IN :ids AND name = 'player.report'
        ) x WHERE drift IS NOT NULL
    ) r
    JOIN parties ON parties.id = r.party_id
    GROUP BY r.party_id, r.bucket_ms
    """


async def touched(session: AsyncSession, low: datetime, high: datetime) -> list[uuid.UUID]:
    """The existing parties with events ingested in (low, high]."""
    rows = await session.execute(
        text(
            "SELECT DISTINCT e.party_id FROM analytics_events e "
            "JOIN parties ON parties.id = e.party_id "
            "WHERE e.ingested_at > :low AND e.ingested_at <= :high"
        )
        .bindparams(when_param("low"), when_param("high"))
        .columns(party_id=PartyStats.party_id.type),
        {"low": low, "high": high},
    )
    return sorted(rows.scalars())


async def recompute(session: AsyncSession, d: Dialect, ids: list[uuid.UUID], now: datetime) -> None:
    """Delete and rebuild the four tables' rows of `ids` (existing parties)."""
    params = {"ids": ids, "now": now}
    for table in TABLES:
        await session.execute(
            text(f"DELETE FROM {table} WHERE party_id IN :ids").bindparams(ids_param()), params
        )
    for sql in (_stats_sql(d), _minutes_sql(d), _hotspots_sql(d), _drift_sql(d)):
        statement = text(sql).bindparams(ids_param())
        if ":now" in sql:
            statement = statement.bindparams(when_param("now"))
        await session.execute(statement, params)
    if not d.pg:
        await _percentiles_in_python(session, d, ids)


async def _percentiles_in_python(session: AsyncSession, d: Dialect, ids: list[uuid.UUID]) -> None:
    """SQLite has no percentile_cont: read the touched parties' drifts, compute, update."""
    rows = await session.execute(
        text(
            f"SELECT party_id, drift FROM (SELECT party_id, ABS({d.num('driftMs')}) AS drift "
            "FROM analytics_events WHERE party_id IN :ids AND name = 'player.report') x "
            "WHERE drift IS NOT NULL ORDER BY party_id, drift"
        )
        .bindparams(ids_param())
        .columns(party_id=PartyStats.party_id.type),
        {"ids": ids},
    )
    drifts: dict[uuid.UUID, list[float]] = defaultdict(list)
    for party_id, drift in rows:
        drifts[party_id].append(float(drift))
    for party_id, values in drifts.items():
        await session.execute(
            update(PartyStats)
            .where(PartyStats.party_id == party_id)
            .values(
                drift_p50_ms=percentile(values, 0.5),
                drift_p90_ms=percentile(values, 0.9),
                drift_p99_ms=percentile(values, 0.99),
            )
        )
