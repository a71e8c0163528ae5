"""Analytics aggregation: a full run over 1,000,000 events, then incremental ones.

    .venv/bin/python bench/analytics_aggregate.py                   # 1M events, then 10k more
    .venv/bin/python bench/analytics_aggregate.py --events 200000 --more 5000

A scratch PostgreSQL database (`common.Stack`, migrated). 2,000 users, 200 parties and 50 videos
are inserted directly; the events are generated in this process and written with one COPY
(asyncpg `copy_records_to_table`) over the last 3 days: each party lasts two hours with an
audience of 40 users and plays one of the videos; per event a name drawn with weights close to
a real party (half heartbeats, then player reports, reactions, chat, presence, seeks,
buffering, views...). Then each scope (`party`, `video`, `user`, `system`) is aggregated once
by `aggregate_scope` (the code the jobs run) and timed; then `--more` events are COPYed
(ingested now, spread over all parties: every key is touched, the worst case) and the
incremental run is timed; then `--more` events in `--live` parties only (a minute of a busy
evening: the live parties) and timed again; then a run that finds nothing new. Printed per run
and scope: seconds, events read, keys recomputed; and the aggregate tables' row counts. The lag
is 0 here (nothing else writes). No asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import Stack, log, stop_on_sigterm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLUMNS = [
    "day",
    "id",
    "name",
    "source",
    "occurred_at",
    "received_at",
    "ingested_at",
    "user_id",
    "anonymous_id",
    "party_id",
    "video_id",
    "position_seconds",
    "properties",
]
WEIGHTS = {
    "player.heartbeat": 50,
    "player.report": 10,
    "reaction.send": 9,
    "chat.message": 8,
    "party.online": 4,
    "party.offline": 3,
    "player.seek": 3,
    "video.view": 3,
    "page.view": 3,
    "player.buffering_start": 2,
    "player.buffering_end": 2,
    "player.complete": 1,
    "player.error": 1,
    "party.join": 1,
}
SERVER = {"player.report", "reaction.send", "chat.message", "party.online", "party.offline",
          "party.join"}  # fmt: skip
PARTY_SECONDS = 2 * 3600


def properties(name: str, rng: random.Random, position: float) -> dict[str, Any]:
    if name == "player.heartbeat":
        return {"watchedSeconds": 15}
    if name == "player.report":
        return {"driftMs": rng.choice([5, 20, 40, 80, 150, 400, 900, 2500, -30, -120])}
    if name == "player.seek":
        return {"fromSeconds": position, "toSeconds": position + rng.choice([-30, 30, 120, 300])}
    if name == "player.buffering_end":
        return {"durationMs": rng.randint(100, 5000)}
    if name == "reaction.send":
        return {"emoji": "laugh"}
    if name == "page.view":
        return {"path": "/party"}
    return {}


class World:
    def __init__(self, users: list[uuid.UUID], parties: list[uuid.UUID], videos: list[uuid.UUID],
                 seed: int) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.users, self.parties, self.videos = users, parties, videos
        now = datetime.now(UTC)
        span = (PARTY_SECONDS + 60, 3 * 86400)
        self.starts = {p: now - timedelta(seconds=self.rng.uniform(*span)) for p in parties}
        self.video_of = {p: self.rng.choice(videos) for p in parties}
        self.audience = {p: self.rng.sample(users, 40) for p in parties}
        self.names = list(WEIGHTS)
        self.weights = list(WEIGHTS.values())

    def events(
        self, count: int, ingested: datetime, parties: list[uuid.UUID] | None = None
    ) -> list[tuple[Any, ...]]:
        rng, rows = self.rng, []
        names = rng.choices(self.names, self.weights, k=count)
        for name in names:
            party = rng.choice(parties or self.parties)
            offset = rng.uniform(0, PARTY_SECONDS)
            at = self.starts[party] + timedelta(seconds=offset)
            position = round(offset % 5400, 1)
            user = rng.choice(self.audience[party])
            rows.append(
                (
                    at.date(),
                    uuid.uuid4().hex,
                    name,
                    "SERVER" if name in SERVER else "CLIENT",
                    at,
                    at,
                    ingested,
                    user,
                    None,
                    party,
                    self.video_of[party],
                    position if name in ("player.heartbeat", "reaction.send") else None,
                    json.dumps(properties(name, rng, position)),
                )
            )
        return rows


async def seed(url: str, users: int, parties: int, videos: int) -> World:
    from sqlalchemy import insert

    from watchparty.accounts.models import User
    from watchparty.db import create_engine, create_sessionmaker
    from watchparty.parties.models import Party
    from watchparty.videos.models import Video

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            user_ids = [uuid.uuid4() for _ in range(users)]
            await session.execute(insert(User), [
                {"id": u, "email": f"bench-{u.hex[:12]}@example.com", "display_name": "Viewer",
                 "password_hash": "x"} for u in user_ids
            ])  # fmt: skip
            party_ids = [uuid.uuid4() for _ in range(parties)]
            await session.execute(insert(Party), [
                {"id": p, "title": "Bench party", "code": p.hex[:8].upper(),
                 "host_id": user_ids[i % users]} for i, p in enumerate(party_ids)
            ])  # fmt: skip
            video_ids = [uuid.uuid4() for _ in range(videos)]
            await session.execute(insert(Video), [
                {"id": v, "title": "Bench video", "owner_id": user_ids[i % users]}
                for i, v in enumerate(video_ids)
            ])  # fmt: skip
            await session.commit()
    finally:
        await engine.dispose()
    return World(user_ids, party_ids, video_ids, seed=13)


async def copy(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    import asyncpg

    days = {row[0] for row in rows}
    connection = await asyncpg.connect(dsn)
    try:
        for day in sorted(days):
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS analytics_events_{day:%Y%m%d} PARTITION OF "
                f"analytics_events FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
            )
        started = time.perf_counter()
        await connection.copy_records_to_table("analytics_events", records=rows, columns=COLUMNS)
        await connection.execute("ANALYZE analytics_events")
        return time.perf_counter() - started
    finally:
        await connection.close()


async def aggregate_all(url: str, label: str) -> dict[str, Any]:
    from watchparty.analytics.aggregate.run import SCOPES, aggregate_scope
    from watchparty.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    figures: dict[str, Any] = {"run": label, "scopes": {}}
    total = time.perf_counter()
    try:
        sessionmaker = create_sessionmaker(engine)
        for scope in SCOPES:
            started = time.perf_counter()
            run = await aggregate_scope(sessionmaker, scope, lag=timedelta(0), grace_days=7)
            seconds = time.perf_counter() - started
            figures["scopes"][scope] = {"seconds": round(seconds, 2), "events": run.events,
                                        "keys": run.keys}  # fmt: skip
            log(f"{label}: {scope}: {seconds:.2f} s, {run.events} events, {run.keys} keys")
    finally:
        await engine.dispose()
    figures["seconds"] = round(time.perf_counter() - total, 2)
    return figures


async def counts(dsn: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        tables = ["analytics_party_stats", "analytics_party_minutes", "analytics_party_hotspots",
                  "analytics_party_drift", "analytics_video_days", "analytics_video_positions",
                  "analytics_user_days", "analytics_daily"]  # fmt: skip
        return {t: int(await connection.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
    finally:
        await connection.close()


async def main(args: argparse.Namespace) -> None:
    stack = await Stack.create("postgres")
    try:
        dsn = stack.env["DATABASE_URL"]
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        world = await seed(url, args.users, args.parties, args.videos)
        log(f"generating {args.events} events")
        rows = world.events(args.events, datetime.now(UTC) - timedelta(minutes=1))
        copied = await copy(dsn, rows)
        log(f"COPY of {len(rows)} events: {copied:.1f} s")
        del rows
        full = await aggregate_all(url, "full")
        await copy(dsn, world.events(args.more, datetime.now(UTC)))
        await asyncio.sleep(0.01)
        everywhere = await aggregate_all(url, f"incremental, {args.more} events in every party")
        live = world.parties[: args.live]
        await copy(dsn, world.events(args.more, datetime.now(UTC), live))
        await asyncio.sleep(0.01)
        few = await aggregate_all(url, f"incremental, {args.more} events in {args.live} parties")
        idle = await aggregate_all(url, "nothing new")
        result = {
            "events": args.events, "more": args.more, "copy_seconds": round(copied, 1),
            "runs": [full, everywhere, few, idle], "rows": await counts(dsn),
        }  # fmt: skip
        print(json.dumps(result, indent=2))
    finally:
        await stack.close()


if __name__ == "__main__":
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--more", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--parties", type=int, default=200)
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--live", type=int, default=10, help="parties of the second increment")
    asyncio.run(main(parser.parse_args()))
