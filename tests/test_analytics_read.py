"""Reading analytics: who may read each field (host, co-host, moderator, member, stranger,
anonymous; a video's owner; the user; staff), the exact values of aggregate rows written in
the test, re-bucketing, the bounds of every argument and a constant number of statements."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.analytics_read_ops import (
    DAY,
    START,
    USER_STATS,
    VIDEO_ANALYTICS,
    add_external_video,
    add_party_aggregates,
    add_system_day,
    add_user_days,
    add_video_aggregates,
    field_error,
    make_staff,
    party_analytics,
)
from tests.ops_support import command_env, run_command
from tests.parties_ops import cast, mutate, person
from tests.support import Api, unique_email
from watchparty.analytics.models import PartyHotspot, PartyMinute, VideoPosition


def iso(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def curve_point(n: int) -> dict[str, Any]:
    return {
        "start": iso(n),
        "joins": 1,
        "leaves": n % 2,
        "viewers": n + 1,
        "chatMessages": 2,
        "reactions": 1,
        "bufferingEvents": 0,
    }


EXPECTED_PARTY = {
    "totals": {
        "uniqueViewers": 4,
        "peakViewers": 3,
        "watchSeconds": 600.0,
        "averageWatchSeconds": 150.0,
        "chatMessages": 20,
        "reactions": 10,
        "bufferingEvents": 2,
        "bufferingSeconds": 3.5,
    },
    "from": iso(0),
    "to": iso(10),
    "bucketMinutes": 1,
    "curve": [curve_point(n) for n in range(10)],
    "hotspotBucketSeconds": 10,
    "hotspots": [
        {"startSeconds": 0, "endSeconds": 10, "reactions": 3},
        {"startSeconds": 10, "endSeconds": 20, "reactions": 1},
        {"startSeconds": 20, "endSeconds": 30, "reactions": 5},
    ],
    "syncHealth": {
        "reports": 10,
        "p50Ms": 40.0,
        "p90Ms": 180.0,
        "p99Ms": 900.0,
        "histogram": [
            {"fromMs": 0, "toMs": 50, "reports": 6},
            {"fromMs": 50, "toMs": 100, "reports": 0},
            {"fromMs": 100, "toMs": 250, "reports": 3},
            {"fromMs": 250, "toMs": 500, "reports": 0},
            {"fromMs": 500, "toMs": 1000, "reports": 1},
            {"fromMs": 1000, "toMs": 2000, "reports": 0},
            {"fromMs": 2000, "toMs": 5000, "reports": 0},
            {"fromMs": 5000, "toMs": None, "reports": 0},
        ],
    },
    "updatedAt": "2026-11-21T03:00:00+00:00",
}


async def test_party_analytics_hosts_and_cohosts_only_with_exact_values(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    await add_party_aggregates(any_api, pid)
    for who in (c.host, c.cohost):
        body = await party_analytics(any_api, pid, who.token)
        assert body == {"data": {"party": {"analytics": EXPECTED_PARTY}}}
    for who in (c.moderator, c.member, c.stranger):
        body = await party_analytics(any_api, pid, who.token)
        assert body == {"data": {"party": {"analytics": None}}}
    assert await party_analytics(any_api, pid, None) == {"data": {"party": {"analytics": None}}}
    # An ended party's analytics stay readable by its hosts (that is when they are read).
    ended = await mutate(any_api, "endParty", c.host.token, partyId=pid)
    assert ended["__typename"] == "PartyPayload", ended
    body = await party_analytics(any_api, pid, c.cohost.token)
    assert body == {"data": {"party": {"analytics": EXPECTED_PARTY}}}


async def test_party_curve_and_hotspots_rebucket(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    await add_party_aggregates(any_api, pid)
    fields = "bucketMinutes curve { start joins leaves viewers chatMessages reactions } "
    fields += "hotspotBucketSeconds hotspots { startSeconds endSeconds reactions }"
    body = await party_analytics(
        any_api, pid, c.host.token, "bucketMinutes: 5, hotspotBucketSeconds: 30", fields
    )
    assert body["data"]["party"]["analytics"] == {
        "bucketMinutes": 5,
        "curve": [
            {
                "start": iso(0),
                "joins": 5,
                "leaves": 2,
                "viewers": 5,
                "chatMessages": 10,
                "reactions": 5,
            },
            {
                "start": iso(5),
                "joins": 5,
                "leaves": 3,
                "viewers": 10,
                "chatMessages": 10,
                "reactions": 5,
            },
        ],
        "hotspotBucketSeconds": 30,
        "hotspots": [{"startSeconds": 0, "endSeconds": 30, "reactions": 9}],
    }
    window = f'from: "{iso(2)}", to: "{iso(4)}"'
    body = await party_analytics(any_api, pid, c.host.token, window, "from to curve { viewers }")
    assert body["data"]["party"]["analytics"] == {
        "from": iso(2),
        "to": iso(4),
        "curve": [{"viewers": 3}, {"viewers": 4}],
    }
    # Two days without a bucket size: the smallest size that fits 1440 points (5 minutes).
    window = f'from: "{iso(0)}", to: "{iso(2 * 1440)}"'
    body = await party_analytics(
        any_api, pid, c.host.token, window, "bucketMinutes curve { joins }"
    )
    analytics = body["data"]["party"]["analytics"]
    assert analytics["bucketMinutes"] == 5
    assert len(analytics["curve"]) == 576
    assert [p["joins"] for p in analytics["curve"][:3]] == [5, 5, 0]


async def test_party_analytics_arguments_are_bounded(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    await add_party_aggregates(any_api, pid)
    cases = {
        "bucketMinutes: 7": (
            "bucketMinutes",
            "`bucketMinutes` is one of 1, 5, 15, 30, 60, 180, 360, 720, 1440.",
        ),
        f'from: "{iso(5)}", to: "{iso(5)}"': ("to", "`to` must be after `from`."),
        f'from: "{iso(0)}", to: "{iso(367 * 1440)}"': (
            "from",
            "A range covers at most 366 days.",
        ),
        f'from: "{iso(0)}", to: "{iso(2 * 1440)}", bucketMinutes: 1': (
            "bucketMinutes",
            "That range in 1-minute buckets is 2880 points; at most 1440: choose larger "
            "buckets or a shorter range.",
        ),
        "hotspotBucketSeconds: 7": (
            "hotspotBucketSeconds",
            "`hotspotBucketSeconds` is one of 10, 30, 60, 120, 300, 600.",
        ),
    }
    for args, (field, message) in cases.items():
        body = await party_analytics(any_api, pid, c.host.token, args, "bucketMinutes")
        assert field_error(body) == {"code": "VALIDATION", "field": field, "message": message}
    # Nothing aggregated yet: zeros, no window, no curve.
    other = await cast(any_api)
    body = await party_analytics(
        any_api,
        other.party["id"],
        other.host.token,
        "",
        "from curve { joins } updatedAt "
        "totals { uniqueViewers averageWatchSeconds } syncHealth { reports p50Ms }",
    )
    assert body["data"]["party"]["analytics"] == {
        "from": None,
        "curve": [],
        "updatedAt": None,
        "totals": {"uniqueViewers": 0, "averageWatchSeconds": 0.0},
        "syncHealth": {"reports": 0, "p50Ms": None},
    }


async def _video_analytics(api: Api, video_id: str, token: str | None, args: str) -> Any:
    call = f"analytics({args})" if args else "analytics"
    result = await api.gql(
        f"query($id: ID!) {{ video(id: $id) {{ {call} {{ {VIDEO_ANALYTICS} }} }} }}",
        {"id": video_id},
        token=token,
    )
    return result.body


async def test_video_analytics_owner_only_exact_values_and_bounds(any_api: Api) -> None:
    owner, other = await person(any_api, "Owner"), await person(any_api, "Other")
    video_id = await add_external_video(any_api, owner.token)
    await add_video_aggregates(any_api, video_id)
    args = f'from: "{DAY.isoformat()}", to: "{(DAY + timedelta(days=2)).isoformat()}"'
    body = await _video_analytics(any_api, video_id, owner.token, args)
    assert body["data"]["video"]["analytics"] == {
        "from": "2026-11-20",
        "to": "2026-11-22",
        "views": 10,
        "uniqueViewers": 5,
        "watchSeconds": 150.5,
        "completionRate": 0.5,
        "days": [
            {
                "day": "2026-11-20",
                "views": 4,
                "uniqueViewers": 3,
                "watchSeconds": 100.0,
                "completions": 1,
            },
            {
                "day": "2026-11-21",
                "views": 0,
                "uniqueViewers": 0,
                "watchSeconds": 0.0,
                "completions": 0,
            },
            {
                "day": "2026-11-22",
                "views": 6,
                "uniqueViewers": 2,
                "watchSeconds": 50.5,
                "completions": 4,
            },
        ],
        "bucketSeconds": 10,
        "retention": [
            {
                "startSeconds": 0,
                "endSeconds": 10,
                "viewers": 5,
                "plays": 5,
                "rewatches": 0,
                "skips": 0,
            },
            {
                "startSeconds": 10,
                "endSeconds": 20,
                "viewers": 4,
                "plays": 7,
                "rewatches": 3,
                "skips": 1,
            },
            {
                "startSeconds": 20,
                "endSeconds": 30,
                "viewers": 2,
                "plays": 2,
                "rewatches": 0,
                "skips": 3,
            },
        ],
        "mostRewatched": [{"startSeconds": 10, "rewatches": 3}],
        "mostSkipped": [{"startSeconds": 20, "skips": 3}, {"startSeconds": 10, "skips": 1}],
    }
    body = await _video_analytics(any_api, video_id, owner.token, args + ", bucketSeconds: 30")
    assert body["data"]["video"]["analytics"]["retention"] == [
        {"startSeconds": 0, "endSeconds": 30, "viewers": 5, "plays": 7, "rewatches": 2, "skips": 3}
    ]
    for token in (other.token, None):
        body = await _video_analytics(any_api, video_id, token, args)
        assert "errors" not in body  # a private video is null; a visible one's analytics are
        assert (body["data"]["video"] or {"analytics": None}) == {"analytics": None}
    cases = {
        'from: "2026-11-22", to: "2026-11-20"': ("from", "`from` must not be after `to`."),
        'from: "2025-01-01", to: "2026-11-20"': ("from", "A range covers at most 366 days."),
        "top: 21": ("top", "`top` is between 1 and 20."),
        "bucketSeconds: 15": (
            "bucketSeconds",
            "`bucketSeconds` is one of 10, 30, 60, 120, 300, 600.",
        ),
    }
    for bad, (field, message) in cases.items():
        body = await _video_analytics(any_api, video_id, owner.token, bad)
        assert field_error(body) == {"code": "VALIDATION", "field": field, "message": message}


async def test_me_stats_and_is_staff_are_the_users_own(any_api: Api) -> None:
    c = await cast(any_api)
    await add_user_days(any_api, c.host.id)
    result = await any_api.gql(
        f'{{ me {{ isStaff stats(from: "2026-11-20", to: "2026-11-21") {{ {USER_STATS} }} }} }}',
        token=c.host.token,
    )
    assert result.data["me"] == {
        "isStaff": False,
        "stats": {
            "from": "2026-11-20",
            "to": "2026-11-21",
            "watchSeconds": 150.0,
            "partiesHosted": 1,
            "partiesJoined": 3,
            "messagesSent": 8,
            "reactionsSent": 3,
            "days": [
                {
                    "day": "2026-11-20",
                    "watchSeconds": 120.0,
                    "partiesHosted": 1,
                    "partiesJoined": 2,
                    "messagesSent": 7,
                    "reactionsSent": 3,
                },
                {
                    "day": "2026-11-21",
                    "watchSeconds": 30.0,
                    "partiesHosted": 0,
                    "partiesJoined": 1,
                    "messagesSent": 1,
                    "reactionsSent": 0,
                },
            ],
        },
    }
    # Somebody else's User (the party's host, seen by a member): null.
    result = await any_api.gql(
        "query($id: ID!) { party(id: $id) { host { isStaff stats { watchSeconds } } } }",
        {"id": c.party["id"]},
        token=c.member.token,
    )
    assert result.data["party"]["host"] == {"isStaff": None, "stats": None}
    result = await any_api.gql(
        '{ me { stats(from: "2026-11-21", to: "2026-11-20") { to } } }', token=c.host.token
    )
    assert field_error(result.body) == {
        "code": "VALIDATION",
        "field": "from",
        "message": "`from` must not be after `to`.",
    }


SYSTEM = (
    '{ systemStats(from: "2026-11-20", to: "2026-11-21") { from to days { day activeUsers '
    "newUsers partiesCreated watchSeconds premiumUsers events bufferingEvents playerErrors } } }"
)


async def test_system_stats_staff_only(any_api: Api) -> None:
    staff, someone = await person(any_api, "Staff"), await person(any_api, "Someone")
    await make_staff(any_api, staff)
    await add_system_day(any_api, DAY, 11)
    body = (await any_api.gql(SYSTEM)).body
    assert field_error(body) == {
        "code": "NOT_AUTHENTICATED",
        "field": None,
        "message": "You need to sign in.",
    }
    assert body["data"] is None
    body = (await any_api.gql(SYSTEM, token=someone.token)).body
    assert field_error(body) == {
        "code": "NOT_ALLOWED",
        "field": None,
        "message": "Only staff may do that.",
    }
    result = await any_api.gql(SYSTEM, token=staff.token)
    day = {
        "activeUsers": 11,
        "newUsers": 2,
        "partiesCreated": 3,
        "watchSeconds": 3600.0,
        "premiumUsers": 1,
        "events": 500,
        "bufferingEvents": 7,
        "playerErrors": 1,
    }
    zero = {key: 0.0 if key == "watchSeconds" else 0 for key in day}
    assert result.data["systemStats"] == {
        "from": "2026-11-20",
        "to": "2026-11-21",
        "days": [{"day": "2026-11-20", **day}, {"day": "2026-11-21", **zero}],
    }
    me = await any_api.gql("{ me { isStaff } }", token=staff.token)
    assert me.data == {"me": {"isStaff": True}}


RUN = """mutation($input: RunAnalyticsAggregationInput) { runAnalyticsAggregation(input: $input) {
    __typename ... on AnalyticsJobPayload { job { id kind scope status progress downloadUrl } }
    ... on UserError { code message field } } }"""


async def test_run_aggregation_staff_only_and_its_job_is_the_requesters(api: Api) -> None:
    staff, someone = await person(api, "Staff"), await person(api, "Someone")
    await make_staff(api, staff)
    result = await api.gql(RUN, {"input": {"scope": "all"}})
    assert result.data["runAnalyticsAggregation"] == {
        "__typename": "NotAuthenticated",
        "code": "NOT_AUTHENTICATED",
        "message": "You need to sign in.",
        "field": None,
    }
    result = await api.gql(RUN, {"input": {"scope": "all"}}, token=someone.token)
    assert result.data["runAnalyticsAggregation"] == {
        "__typename": "NotAllowed",
        "code": "NOT_ALLOWED",
        "message": "Only staff may do that.",
        "field": None,
    }
    result = await api.gql(RUN, {"input": {"scope": "everything"}}, token=staff.token)
    assert result.data["runAnalyticsAggregation"]["field"] == "scope"
    result = await api.gql(RUN, {"input": {"scope": "party"}}, token=staff.token)
    job = result.data["runAnalyticsAggregation"]["job"]
    assert {k: v for k, v in job.items() if k != "id"} == {
        "kind": "AGGREGATE",
        "scope": "party",
        "status": "QUEUED",
        "progress": 0.0,
        "downloadUrl": None,
    }
    query = "query($id: ID!) { analyticsJob(id: $id) { id kind } }"
    mine = await api.gql(query, {"id": job["id"]}, token=staff.token)
    assert mine.data == {"analyticsJob": {"id": job["id"], "kind": "AGGREGATE"}}
    for token in (someone.token, None):
        assert (await api.gql(query, {"id": job["id"]}, token=token)).data == {"analyticsJob": None}
    assert (await api.gql(query, {"id": "nope"}, token=staff.token)).data == {"analyticsJob": None}


async def _count_statements(api: Api, query: str, variables: dict[str, Any], token: str) -> int:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = await api.gql(query, variables, token=token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert not result.body.get("errors"), result.body
    return len(statements)


async def test_statements_per_dashboard_read_do_not_grow_with_the_data(api: Api) -> None:
    owner = await person(api, "Owner")
    await make_staff(api, owner)
    small, large = await cast(api), await cast(api)
    await add_party_aggregates(api, small.party["id"], minutes=10)
    await add_party_aggregates(api, large.party["id"], minutes=10)
    video_small = await add_external_video(api, owner.token)
    video_large = await add_external_video(api, owner.token)
    await add_video_aggregates(api, video_small)
    await add_video_aggregates(api, video_large)
    async with api.state.sessionmaker() as session:  # 1,000 more rows each for the large ones
        pid, vid = uuid.UUID(large.party["id"]), uuid.UUID(video_large)
        for n in range(10, 1010):
            session.add(
                PartyMinute(
                    party_id=pid,
                    minute=START + timedelta(minutes=n),
                    joins=1,
                    leaves=0,
                    viewers=2,
                    chat_messages=0,
                    reactions=0,
                    buffering_events=0,
                )
            )
            session.add(PartyHotspot(party_id=pid, bucket=30 + 10 * n, reactions=1))
            session.add(
                VideoPosition(video_id=vid, bucket=30 + 10 * n, viewers=1, plays=2, skips=0)
            )
        await session.commit()
    party = f"query($id: ID!) {{ party(id: $id) {{ analytics {{ {PARTY_FIELDS} }} }} }}"
    parties = [
        await _count_statements(api, party, {"id": c.party["id"]}, c.host.token)
        for c in (small, large)
    ]
    assert parties[0] == parties[1], parties
    video = f"query($id: ID!) {{ video(id: $id) {{ analytics {{ {VIDEO_ANALYTICS} }} }} }}"
    counts = [
        await _count_statements(api, video, {"id": v}, owner.token)
        for v in (video_small, video_large)
    ]
    assert counts[0] == counts[1], counts
    print(f"statements per read (10 vs 1,010 rows): party {parties}, video {counts}")


PARTY_FIELDS = (
    "totals { uniqueViewers } curve { viewers } hotspots { reactions } "
    "syncHealth { p99Ms histogram { reports } } updatedAt"
)


async def test_grant_and_revoke_staff_from_the_command_line(api: Api, tmp_path: Path) -> None:
    email = unique_email("staff")
    token = (await api.register(email))["accessToken"]
    env = command_env(tmp_path, DATABASE_URL=api.settings.database_url)

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_command, ["user", *args], env, tmp_path)

    granted = await run("grant-staff", email.upper())
    assert (granted.returncode, granted.stdout) == (0, f"{email}: staff\n"), granted.stderr
    assert (await api.gql("{ me { isStaff } }", token=token)).data == {"me": {"isStaff": True}}
    assert "errors" not in (await api.gql("{ systemStats { to } }", token=token)).body
    revoked = await run("revoke-staff", email)
    assert (revoked.returncode, revoked.stdout) == (0, f"{email}: not staff\n")
    assert (await api.gql("{ me { isStaff } }", token=token)).data == {"me": {"isStaff": False}}
    unknown = await run("grant-staff", "nobody@example.com")
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "error: No account uses 'nobody@example.com'.\n",
    )
