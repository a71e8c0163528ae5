"""Analytics aggregation: exact figures from scripted raw events, the watermark (re-runs, late
events, the lag, concurrent runs on two connections and two processes), job statuses, and a run
interrupted mid-way (rolled back, redone by the next run).

Each backend gets a database of its own (the system figures count every user of the database)
and the aggregation lag is 1 s. Events are written straight into `analytics_events` (tests of the
ingestion path are elsewhere); parties, videos and users are real, made through the API."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.analytics_ops import event, insert_events, job_statuses, rows
from tests.ops_support import command_env, scratch_database, watchparty_command
from tests.parties_ops import Person, create_party, joined
from tests.support import Api, make_settings, running_app, unique_email
from tests.videos_ops import start_upload
from watchparty.analytics import runs
from watchparty.analytics.aggregate.jobs import request_aggregation, run_job
from watchparty.analytics.models import (
    AnalyticsJob,
    AnalyticsWatermark,
    JobKind,
    JobStatus,
    PartyDrift,
    PartyHotspot,
    PartyMinute,
    PartyStats,
    SystemDay,
    UserDay,
    VideoDay,
    VideoPosition,
)
from watchparty.errors import PlanId
from watchparty.kit.time import utcnow

LAG = 0.3


@dataclass
class Stack:
    api: Api
    backend: str
    database_url: str
    tmp: Path
    users: int = 0
    people: list[Person] = field(default_factory=list)

    async def person(self, name: str) -> tuple[Person, str]:
        email = unique_email(name.lower())
        payload = await self.api.register(email=email, display_name=name)
        self.users += 1
        return Person(payload["accessToken"], payload["user"]["id"], name), email


@pytest.fixture(scope="module", params=["postgres", "embedded"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"aggregate-{request.param}")
    # Only the scripted events: the server's own (sign-ups, parties made here) are not recorded.
    quiet = {"analytics_aggregation_lag_seconds": LAG, "analytics_enabled": False}
    if request.param == "postgres":
        async with scratch_database() as url:
            settings = make_settings("postgres", database_url=url, tmp=tmp, **quiet)
            async with running_app(settings) as api:
                yield Stack(api, "postgres", url, tmp)
    else:
        settings = make_settings("embedded", database_url="", tmp=tmp, **quiet)
        async with running_app(settings) as api:
            yield Stack(api, "embedded", settings.database_url, tmp)


async def aggregate(stack: Stack, scope: str = "all", *, wait: bool = True) -> AnalyticsJob:
    """An on-demand run through the service and the job queue, awaited to its end (`wait`:
    first let the lag pass, so what was just inserted is read)."""
    if wait:
        await asyncio.sleep(LAG + 0.1)
    async with stack.api.state.unit_of_work() as uow:
        job = await request_aggregation(uow, scope, None)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        await stack.api.drain_jobs()
        async with stack.api.state.sessionmaker() as session:
            found = await session.get(AnalyticsJob, job.id)
        assert found is not None
        if found.status in runs.FINISHED:
            return found
        assert asyncio.get_running_loop().time() < deadline, found.status
        await asyncio.sleep(0.05)


def uid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


@dataclass
class Scripted:
    party: str
    video: str
    host: Person
    v1: Person
    v2: Person
    day: date
    t0: datetime
    count_by_day: dict[date, int]


async def scripted(stack: Stack) -> Scripted:
    """One party (host + two viewers; an anonymous visitor and a stranger who never joined
    send events naming it) and one video, three days ago."""
    api = stack.api
    host, _ = await stack.person("Host")
    v1, _ = await stack.person("Viewer")
    v2, _ = await stack.person("Other")
    stranger, _ = await stack.person("Stranger")
    party = (await create_party(api, host))["id"]
    for who in (v1, v2):
        await joined(api, who, code=(await _code(api, party, host)))
    video = (await start_upload(api, host.token, 3))["video"]["id"]
    day = (utcnow() - timedelta(days=3)).date()
    t0 = datetime.combine(day, time(20, 0), UTC)

    def at(minutes: int, seconds: int = 0) -> datetime:
        return t0 + timedelta(minutes=minutes, seconds=seconds)

    p, vd = {"party": party}, {"party": party, "video": video}
    h, a, b = host.id, v1.id, v2.id
    events = [
        event("party.create", at(0), user=h, **p),
        event("party.online", at(0, 10), user=h, **p),
        event("party.join", at(0, 20), user=a, **p),
        event("party.online", at(0, 30), user=a, **p),
        event("party.join", at(1, 0), user=b, **p),
        event("party.online", at(1, 5), user=b, **p),
        event("party.online", at(1, 20), user=a, **p),  # a repeat: nothing changes
        event("party.offline", at(2, 15), user=a, **p),
        event("party.offline", at(3, 40), user=b, **p),
        event("party.online", at(3, 50), user=a, **p),
        event("chat.message", at(2, 30), user=a, **p),
        event("chat.message", at(5, 10), user=h, **p),
        event("reaction.send", at(5, 5), user=a, position=125.0, emoji="x", **vd),
        event("reaction.send", at(5, 20), user=b, position=128.9, emoji="x", **vd),
        event("reaction.send", at(6, 0), user=h, position=300.0, emoji="x", **p),
        event("player.heartbeat", at(1, 0), user=a, position=10, watchedSeconds=30, **vd),
        event("player.heartbeat", at(1, 30), user=a, position=40, watchedSeconds=30, **vd),
        event("player.heartbeat", at(1, 45), user=a, position=12, watchedSeconds=10, **vd),
        event("player.heartbeat", at(2, 0), user=b, position=20, watchedSeconds=100, **vd),
        event("player.heartbeat", at(2, 0), user=h, position=15, watchedSeconds="abc", **vd),
        event("player.heartbeat", at(2, 5), anon="anon-1", position=5, watchedSeconds=12.5, **vd),
        # anybody may name any party: a stranger's client events do not count for it
        event("player.heartbeat", at(2, 6), user=stranger.id, watchedSeconds=40, **p),
        event("player.buffering_start", at(2, 7), user=stranger.id, **p),
        event("player.buffering_start", at(2, 40), user=b, **vd),
        event("player.buffering_end", at(2, 42), user=b, durationMs=1500, **vd),
        event("player.buffering_end", at(2, 43), user=b, durationMs=-5, **vd),
        event("player.error", at(2, 50), user=b, code="E1", **vd),
        event("video.view", at(0, 40), user=a, **vd),
        event("video.view", at(1, 10), user=b, **vd),
        event("video.view", at(2, 1), anon="anon-1", **vd),
        event("player.complete", at(4, 0), user=a, **vd),
        event("player.seek", at(2, 10), user=b, fromSeconds=21, toSeconds=65, **vd),
        event("player.seek", at(2, 11), user=b, fromSeconds=50, toSeconds=5, **vd),
        event("player.seek", at(2, 12), user=b, fromSeconds="x", toSeconds=500, **vd),
        *[
            event("player.report", at(3, i), user=h, driftMs=drift, **p)
            for i, drift in enumerate([10, -40, 60, 300, 1200, 7000, "x"])
        ],
        # a party id nobody created, a video id that does not exist: skipped, no failure
        event("reaction.send", at(1), user=a, party=str(uuid.uuid4()), position=1.0),
        event("video.view", at(1), user=a, video=str(uuid.uuid4())),
        # the next day: solo watching
        event("video.view", at(24 * 60), user=a, video=video),
        event("player.heartbeat", at(24 * 60 + 1), user=a, video=video, position=100,
              watchedSeconds=20),
    ]  # fmt: skip
    await insert_events(api, events)
    count_by_day: dict[date, int] = {}
    for row in events:
        count_by_day[row["day"]] = count_by_day.get(row["day"], 0) + 1
    return Scripted(party, video, host, v1, v2, day, t0, count_by_day)


async def _code(api: Api, party_id: str, host: Person) -> str:
    result = await api.gql(
        "query($id: ID!) { party(id: $id) { code } }", {"id": party_id}, token=host.token
    )
    code: str = result.data["party"]["code"]
    return code


async def test_scripted_party_video_users_and_days(stack: Stack) -> None:
    api = stack.api
    s = await scripted(stack)
    job = await aggregate(stack)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.kind is JobKind.AGGREGATE and job.scope == "all" and job.progress == 1.0
    statuses = await job_statuses(api, str(job.id))
    assert statuses[0] == ("QUEUED", 0.0) and statuses[1] == ("RUNNING", 0.0)
    assert statuses[-1] == ("SUCCEEDED", 1.0)
    assert [p for st, p in statuses[2:-1]] == [0.25, 0.5, 0.75, 1.0]

    party = uid(s.party)
    (stats,) = await rows(api, PartyStats, PartyStats.party_id == party)
    assert without(stats, "updated_at", "last_event_at", "drift_p90_ms", "drift_p99_ms") == {
        "party_id": party,
        "unique_viewers": 3,  # host, two viewers (not the anonymous visitor, not the stranger)
        "peak_viewers": 3,
        "watch_seconds": 130.0,  # 30 + 30 + 10 + 60 (capped) + 0 (not a number)
        "chat_messages": 2,
        "reactions": 3,
        "buffering_events": 1,
        "buffering_seconds": 1.5,
        "drift_reports": 6,
        "drift_p50_ms": 180.0,
        "first_event_at": s.t0,
    }
    assert stats["drift_p90_ms"] == pytest.approx(4100.0)
    assert stats["drift_p99_ms"] == pytest.approx(6710.0)

    minutes = await rows(api, PartyMinute, PartyMinute.party_id == party, order=PartyMinute.minute)
    assert [
        (int((m["minute"] - s.t0).total_seconds() // 60), m["joins"], m["leaves"], m["viewers"],
         m["chat_messages"], m["reactions"], m["buffering_events"])
        for m in minutes
    ] == [
        (0, 2, 0, 2, 0, 0, 0),
        (1, 1, 0, 3, 0, 0, 0),
        (2, 0, 1, 2, 1, 0, 1),
        (3, 1, 1, 2, 0, 0, 0),
        (5, 0, 0, 2, 1, 2, 0),  # no presence change: the viewers carry over
        (6, 0, 0, 2, 0, 1, 0),
    ]  # fmt: skip
    hotspots = await rows(
        api, PartyHotspot, PartyHotspot.party_id == party, order=PartyHotspot.bucket
    )
    assert [(h["bucket"], h["reactions"], h["video_id"]) for h in hotspots] == [
        (120, 2, uid(s.video)),
        (300, 1, None),
    ]
    drift = await rows(api, PartyDrift, PartyDrift.party_id == party, order=PartyDrift.bucket_ms)
    assert [(d["bucket_ms"], d["reports"]) for d in drift] == [
        (0, 2), (50, 1), (250, 1), (1000, 1), (5000, 1),
    ]  # fmt: skip

    video = uid(s.video)
    days = await rows(api, VideoDay, VideoDay.video_id == video, order=VideoDay.day)
    assert [without(d, "video_id") for d in days] == [
        {"day": s.day, "views": 3, "unique_viewers": 4, "watch_seconds": 142.5, "completions": 1},
        {"day": s.day + timedelta(days=1), "views": 1, "unique_viewers": 1,
         "watch_seconds": 20.0, "completions": 0},
    ]  # fmt: skip
    positions = await rows(api, VideoPosition, VideoPosition.video_id == video,
                           order=VideoPosition.bucket)  # fmt: skip
    assert [(p["bucket"], p["viewers"], p["plays"], p["skips"]) for p in positions] == [
        (0, 1, 1, 0),
        (10, 2, 3, 0),  # viewer 1 twice (a re-watch) and the host
        (20, 1, 1, 0),
        (30, 0, 0, 1),  # jumped over by the seek from 21 s to 65 s
        (40, 1, 1, 1),
        (50, 0, 0, 1),
        (100, 1, 1, 0),
    ]

    users = await rows(api, UserDay, UserDay.user_id.in_([uid(s.host.id), uid(s.v1.id)]),
                       order=(UserDay.user_id, UserDay.day))  # fmt: skip
    by_user = {(u["user_id"], u["day"]): without(u, "user_id", "day") for u in users}
    assert by_user == {
        (uid(s.host.id), s.day): {"watch_seconds": 0.0, "parties_hosted": 1, "parties_joined": 0,
                                  "messages_sent": 1, "reactions_sent": 1},
        (uid(s.v1.id), s.day): {"watch_seconds": 70.0, "parties_hosted": 0, "parties_joined": 1,
                                "messages_sent": 1, "reactions_sent": 2},
        (uid(s.v1.id), s.day + timedelta(days=1)): {
            "watch_seconds": 20.0, "parties_hosted": 0, "parties_joined": 0,
            "messages_sent": 0, "reactions_sent": 0},
    }  # fmt: skip

    (system_day,) = await rows(api, SystemDay, SystemDay.day == s.day)
    assert system_day == {
        "day": s.day,
        "active_users": 4,  # the system counts the stranger's watching (not the party)
        "new_users": 0,
        "parties_created": 1,
        "watch_seconds": 182.5,
        "premium_users": 0,
        "events": s.count_by_day[s.day],
        "buffering_events": 2,
        "player_errors": 1,
    }

    # A re-run reads nothing new and writes the same rows.
    before = [await rows(api, m) for m in (PartyStats, PartyMinute, VideoDay, VideoPosition,
                                            UserDay, SystemDay)]  # fmt: skip
    await insert_events(api, [event("party.online", s.t0 + timedelta(hours=2), user=s.v2.id,
                                    party=s.party)])  # fmt: skip
    again = await aggregate(stack)
    assert again.status is JobStatus.SUCCEEDED
    after = [await rows(api, m) for m in (PartyStats, PartyMinute, VideoDay, VideoPosition,
                                           UserDay, SystemDay)]  # fmt: skip
    strip = ("updated_at",)
    # only the party's new minute and the counts of that day change
    assert [without(r, *strip) for r in after[2]] == [without(r, *strip) for r in before[2]]
    assert after[3] == before[3] and after[4] == before[4]
    (stats_after,) = [r for r in after[0] if r["party_id"] == party]
    assert stats_after["peak_viewers"] == 3 and stats_after["unique_viewers"] == 3
    assert len([m for m in after[1] if m["party_id"] == party]) == 7


async def test_new_and_premium_users_today(stack: Stack) -> None:
    from watchparty.billing import service as billing

    api = stack.api
    member, email = await stack.person("Premium")
    async with api.state.unit_of_work() as uow:
        await billing.grant(
            uow, email, PlanId.PLUS, until=utcnow() + timedelta(days=30), note=None,
            granted_by="test",
        )  # fmt: skip
    today = utcnow().date()
    await insert_events(api, [event("page.view", utcnow() - timedelta(seconds=30),
                                    user=member.id, path="/")])  # fmt: skip
    job = await aggregate(stack, "system")
    assert job.status is JobStatus.SUCCEEDED
    (row,) = await rows(api, SystemDay, SystemDay.day == today)
    assert row["new_users"] == stack.users  # everyone this database has was made today
    assert row["premium_users"] == 1


async def _reactions(stack: Stack, party: str) -> int:
    found = await rows(stack.api, PartyStats, PartyStats.party_id == uid(party))
    return int(found[0]["reactions"]) if found else 0


async def _party(stack: Stack) -> tuple[Person, str]:
    host, _ = await stack.person("Host")
    return host, (await create_party(stack.api, host))["id"]


async def test_late_events_and_the_lag(stack: Stack) -> None:
    host, party = await _party(stack)
    old = utcnow() - timedelta(days=2)
    await insert_events(stack.api, [event("reaction.send", old, user=host.id, party=party)])
    assert (await aggregate(stack, "party")).status is JobStatus.SUCCEEDED
    assert await _reactions(stack, party) == 1

    # Late: it happened two days ago but is ingested now (behind the lag): next run counts it.
    late = event("reaction.send", old - timedelta(hours=5), user=host.id, party=party)
    await insert_events(stack.api, [late])
    await aggregate(stack, "party")
    assert await _reactions(stack, party) == 2

    # Within the lag: not read yet (the watermark stays behind it), read by a later run.
    fresh = event("reaction.send", utcnow(), user=host.id, party=party, ingested=utcnow())
    await insert_events(stack.api, [fresh])
    await aggregate(stack, "party", wait=False)
    assert await _reactions(stack, party) == 2
    async with stack.api.state.sessionmaker() as session:
        mark = await session.get(AnalyticsWatermark, "party")
    assert mark is not None and mark.ingested_through < fresh["ingested_at"]
    await aggregate(stack, "party")
    assert await _reactions(stack, party) == 3


async def test_concurrent_runs_never_double_count(stack: Stack) -> None:
    host, party = await _party(stack)
    base = utcnow() - timedelta(hours=1)
    events = [
        event("reaction.send", base + timedelta(seconds=i), user=host.id, party=party)
        for i in range(40)
    ]
    await insert_events(stack.api, events)
    await asyncio.sleep(LAG + 0.1)
    state = stack.api.state
    jobs = []
    for _ in range(2):
        async with state.unit_of_work() as uow:
            jobs.append(await runs.create(uow, JobKind.AGGREGATE, "all"))
    first, second = await asyncio.gather(*(run_job(state, job.id) for job in jobs))
    assert first is not None and second is not None
    assert (first.status, second.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    for a, b in zip(first.params["result"], second.params["result"], strict=True):
        assert a["events"] == 0 or b["events"] == 0, (a, b)  # one read them, the other nothing
    assert await _reactions(stack, party) == 40
    (stats,) = await rows(stack.api, PartyStats, PartyStats.party_id == uid(party))
    assert stats["reactions"] == 40


async def test_two_processes_never_double_count(stack: Stack) -> None:
    if stack.backend != "postgres":
        pytest.skip("two processes share PostgreSQL (SQLite serializes writers in one file)")
    host, party = await _party(stack)
    base = utcnow() - timedelta(hours=1)
    await insert_events(stack.api, [
        event("chat.message", base + timedelta(seconds=i), user=host.id, party=party)
        for i in range(25)
    ])  # fmt: skip
    await asyncio.sleep(LAG + 0.1)
    env = command_env(
        stack.tmp, DATABASE_URL=stack.database_url, ANALYTICS_AGGREGATION_LAG_SECONDS=str(LAG)
    )
    processes = [
        await asyncio.create_subprocess_exec(
            *watchparty_command(),
            "analytics",
            "aggregate",
            "--scope",
            "party",
            env=env,
            cwd=stack.tmp,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    counts = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
        match = re.search(r": SUCCEEDED, (\d+) events\n  party: (\d+) events", out.decode())
        assert match, out.decode()
        counts.append(int(match.group(2)))
    assert min(counts) == 0
    (stats,) = await rows(stack.api, PartyStats, PartyStats.party_id == uid(party))
    assert stats["chat_messages"] == 25


async def test_interrupted_run_is_failed_and_redone(stack: Stack) -> None:
    """A run stopped mid-way (here: cancelled while the video scope waits on a lock) keeps
    what finished scopes committed, rolls its own scope back (the watermark stays), is
    FAILED, and the next run does the work."""
    if stack.backend != "postgres":
        pytest.skip("holds a PostgreSQL table lock from another connection")
    api = stack.api
    host, party = await _party(stack)
    video = (await start_upload(api, host.token, 3))["video"]["id"]
    await insert_events(api, [
        event("party.online", utcnow() - timedelta(minutes=6), user=host.id, party=party),
        event("video.view", utcnow() - timedelta(minutes=5), user=host.id, video=video,
              party=party),
    ])  # fmt: skip
    await asyncio.sleep(LAG + 0.1)
    state = api.state
    async with state.sessionmaker() as session:
        marked = await session.get(AnalyticsWatermark, "video")
        video_mark = None if marked is None else marked.ingested_through
    async with state.unit_of_work() as uow:
        job = await runs.create(uow, JobKind.AGGREGATE, "all")
    engine = state.sessionmaker.kw["bind"]
    async with engine.connect() as locker:
        await locker.execute(text("LOCK TABLE analytics_video_days IN ACCESS EXCLUSIVE MODE"))
        task = asyncio.create_task(run_job(state, job.id))
        for _ in range(200):
            async with state.sessionmaker() as session:
                seen = await session.get(AnalyticsJob, job.id, populate_existing=True)
            if seen is not None and seen.progress >= 0.25:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the video scope is waiting on the lock
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await locker.rollback()
    async with state.sessionmaker() as session:
        failed = await session.get(AnalyticsJob, job.id)
        mark = await session.get(AnalyticsWatermark, "video")
        days = list(await session.scalars(select(VideoDay).where(VideoDay.video_id == uid(video))))
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error == "interrupted: the run was cancelled (nothing of it was kept)"
    assert (None if mark is None else mark.ingested_through) == video_mark
    assert days == []
    assert await rows(api, PartyStats, PartyStats.party_id == uid(party))  # committed scope
    assert (await aggregate(stack, "video")).status is JobStatus.SUCCEEDED
    (day,) = await rows(api, VideoDay, VideoDay.video_id == uid(video))
    assert day["views"] == 1


async def test_the_cron_skips_while_running_and_fails_abandoned_runs(stack: Stack) -> None:
    from sqlalchemy import func, update

    from watchparty.analytics.aggregate.jobs import aggregate_analytics
    from watchparty.errors import ValidationProblem

    state = stack.api.state
    ctx = {"state": state}

    async def aggregate_jobs() -> int:
        async with state.sessionmaker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(AnalyticsJob)
                .where(AnalyticsJob.kind == JobKind.AGGREGATE)
            )
        return int(count or 0)

    await asyncio.sleep(LAG + 0.1)
    await aggregate_analytics(ctx)  # whatever earlier tests left
    before = await aggregate_jobs()
    assert await aggregate_analytics(ctx) == "nothing new"
    assert await aggregate_jobs() == before  # no row for a run with nothing to do

    host, party = await _party(stack)
    async with state.unit_of_work() as uow:
        running = await runs.create(uow, JobKind.AGGREGATE, "party")
        await runs.start(uow, running)
    await insert_events(stack.api, [event("reaction.send", utcnow(), user=host.id, party=party)])
    await asyncio.sleep(LAG + 0.1)
    assert await aggregate_analytics(ctx) == "skipped: an aggregation is running"
    assert await _reactions(stack, party) == 0

    # Its worker died 20 minutes ago: the cron fails it and runs.
    async with state.unit_of_work() as uow:
        await uow.session.execute(
            update(AnalyticsJob)
            .where(AnalyticsJob.id == running.id)
            .values(started_at=utcnow() - timedelta(minutes=20))
        )
    assert await aggregate_analytics(ctx) == "SUCCEEDED"
    assert await _reactions(stack, party) == 1
    async with state.sessionmaker() as session:
        abandoned = await session.get(AnalyticsJob, running.id)
        latest = await session.scalar(
            select(AnalyticsJob)
            .where(AnalyticsJob.status == JobStatus.SUCCEEDED)
            .order_by(AnalyticsJob.created_at.desc())
            .limit(1)
        )
    assert abandoned is not None and abandoned.status is JobStatus.FAILED
    assert abandoned.error == "abandoned: its worker stopped mid-run"
    assert latest is not None and (latest.scope, latest.owner_id) == ("all", None)

    async with state.unit_of_work() as uow:
        with pytest.raises(ValidationProblem) as raised:
            await request_aggregation(uow, "everything", None)
    assert raised.value.message == (
        "Unknown aggregation scope 'everything': party, video, user, system, all."
    )
