"""Helpers of the analytics reading tests: aggregate rows written straight into the tables the
aggregation jobs own (so the dashboards' values are known exactly), and the queries."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update

from tests.parties_ops import Person
from tests.support import Api
from watchparty.accounts.models import User
from watchparty.analytics.models import (
    PartyDrift,
    PartyHotspot,
    PartyMinute,
    PartyStats,
    SystemDay,
    UserDay,
    VideoDay,
    VideoPosition,
)

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
DAY = date(2026, 11, 20)

PARTY_ANALYTICS = """
    totals { uniqueViewers peakViewers watchSeconds averageWatchSeconds chatMessages reactions
             bufferingEvents bufferingSeconds }
    from to bucketMinutes
    curve { start joins leaves viewers chatMessages reactions bufferingEvents }
    hotspotBucketSeconds hotspots { startSeconds endSeconds reactions }
    syncHealth { reports p50Ms p90Ms p99Ms histogram { fromMs toMs reports } }
    updatedAt
"""
VIDEO_ANALYTICS = """
    from to views uniqueViewers watchSeconds completionRate
    days { day views uniqueViewers watchSeconds completions }
    bucketSeconds retention { startSeconds endSeconds viewers plays rewatches skips }
    mostRewatched { startSeconds rewatches } mostSkipped { startSeconds skips }
"""
USER_STATS = """
    from to watchSeconds partiesHosted partiesJoined messagesSent reactionsSent
    days { day watchSeconds partiesHosted partiesJoined messagesSent reactionsSent }
"""


async def add_party_aggregates(api: Api, party_id: str, minutes: int = 10) -> None:
    """A party's stats, `minutes` minutes from START (joins 1 a minute, viewers = minute + 1,
    2 chat messages and 1 reaction a minute), hot spots at 0, 10, 20 s (3, 1, 5 reactions) and
    drift reports in 3 buckets."""
    pid = uuid.UUID(party_id)
    async with api.state.sessionmaker() as session:
        session.add(
            PartyStats(
                party_id=pid,
                unique_viewers=4,
                peak_viewers=3,
                watch_seconds=600.0,
                chat_messages=2 * minutes,
                reactions=minutes,
                buffering_events=2,
                buffering_seconds=3.5,
                drift_reports=10,
                drift_p50_ms=40.0,
                drift_p90_ms=180.0,
                drift_p99_ms=900.0,
                first_event_at=START + timedelta(seconds=5),
                last_event_at=START + timedelta(minutes=minutes - 1, seconds=30),
                updated_at=UPDATED,
            )
        )
        for n in range(minutes):
            session.add(
                PartyMinute(
                    party_id=pid,
                    minute=START + timedelta(minutes=n),
                    joins=1,
                    leaves=n % 2,
                    viewers=n + 1,
                    chat_messages=2,
                    reactions=1,
                    buffering_events=0,
                )
            )
        for bucket, count in ((0, 3), (10, 1), (20, 5)):
            session.add(PartyHotspot(party_id=pid, bucket=bucket, reactions=count))
        for bucket_ms, count in ((0, 6), (100, 3), (500, 1)):
            session.add(PartyDrift(party_id=pid, bucket_ms=bucket_ms, reports=count))
        await session.commit()


async def add_video_aggregates(api: Api, video_id: str) -> None:
    vid = uuid.UUID(video_id)
    async with api.state.sessionmaker() as session:
        session.add(
            VideoDay(
                video_id=vid,
                day=DAY,
                views=4,
                unique_viewers=3,
                watch_seconds=100.0,
                completions=1,
            )
        )
        session.add(
            VideoDay(
                video_id=vid,
                day=DAY + timedelta(days=2),
                views=6,
                unique_viewers=2,
                watch_seconds=50.5,
                completions=4,
            )
        )
        for bucket, viewers, plays, skips in ((0, 5, 5, 0), (10, 4, 7, 1), (20, 2, 2, 3)):
            session.add(
                VideoPosition(
                    video_id=vid, bucket=bucket, viewers=viewers, plays=plays, skips=skips
                )
            )
        await session.commit()


async def add_user_days(api: Api, user_id: str) -> None:
    async with api.state.sessionmaker() as session:
        session.add(
            UserDay(
                user_id=uuid.UUID(user_id),
                day=DAY,
                watch_seconds=120.0,
                parties_hosted=1,
                parties_joined=2,
                messages_sent=7,
                reactions_sent=3,
            )
        )
        session.add(
            UserDay(
                user_id=uuid.UUID(user_id),
                day=DAY + timedelta(days=1),
                watch_seconds=30.0,
                parties_hosted=0,
                parties_joined=1,
                messages_sent=1,
                reactions_sent=0,
            )
        )
        await session.commit()


async def add_system_day(api: Api, day: date, active: int) -> None:
    async with api.state.sessionmaker() as session:
        await session.merge(
            SystemDay(
                day=day,
                active_users=active,
                new_users=2,
                parties_created=3,
                watch_seconds=3600.0,
                premium_users=1,
                events=500,
                buffering_events=7,
                player_errors=1,
            )
        )
        await session.commit()


async def make_staff(api: Api, who: Person, staff: bool = True) -> None:
    async with api.state.sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(who.id)).values(is_staff=staff)
        )
        await session.commit()


async def party_analytics(
    api: Api, party_id: str, token: str | None, args: str = "", fields: str = PARTY_ANALYTICS
) -> Any:
    """The body (data and errors) of `party(id) { analytics(args) }`."""
    call = f"analytics({args})" if args else "analytics"
    result = await api.gql(
        f"query($id: ID!) {{ party(id: $id) {{ {call} {{ {fields} }} }} }}",
        {"id": party_id},
        token=token,
    )
    return result.body


async def add_external_video(api: Api, token: str) -> str:
    result = await api.gql(
        """mutation($input: AddExternalVideoInput!) { addExternalVideo(input: $input) {
            __typename ... on VideoPayload { video { id } } } }""",
        {"input": {"url": f"https://example.com/{uuid.uuid4().hex}.mp4"}},
        token=token,
    )
    payload = result.data["addExternalVideo"]
    assert payload["__typename"] == "VideoPayload", payload
    video_id: str = payload["video"]["id"]
    return video_id


def field_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a response: its code, field and message."""
    (error,) = body["errors"]
    extensions = error.get("extensions") or {}
    return {
        "code": extensions.get("code"),
        "field": extensions.get("field"),
        "message": error["message"],
    }
