"""Helpers of the analytics ingestion tests: trackEvents, the beacon, and reading what arrived."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import select

from tests.support import Api
from watchparty.analytics.models import AnalyticsEvent

TRACK = """mutation($input: TrackEventsInput!) { trackEvents(input: $input) {
    __typename
    ... on TrackEventsPayload { accepted duplicates rejected { index reason } }
    ... on RateLimited { retryAfterSeconds }
    ... on UserError { code message field }
} }"""


def now_ms() -> float:
    return time.time() * 1000


def event(name: str = "player.play", **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "name": name, "occurredAtMs": now_ms(), **fields}


async def track(
    api: Api,
    events: list[dict[str, Any]],
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    if token is None and "anonymousId" not in extra:
        extra["anonymousId"] = "anon-" + uuid.uuid4().hex[:12]
    result = await api.gql(
        TRACK, {"input": {"events": events, **extra}}, token=token, headers=headers
    )
    payload: dict[str, Any] = result.data["trackEvents"]
    return payload


async def stored(api: Api, ids: list[str], *, timeout: float = 15.0) -> list[AnalyticsEvent]:
    """The rows of `ids` once they all arrived (the worker drains the stream every second)."""
    deadline = time.monotonic() + timeout
    while True:
        async with api.state.sessionmaker() as session:
            rows = list(
                (await session.execute(select(AnalyticsEvent).where(AnalyticsEvent.id.in_(ids))))
                .scalars()
                .all()
            )
        if len(rows) >= len(ids) or time.monotonic() > deadline:
            return sorted(rows, key=lambda row: ids.index(row.id))
        await asyncio.sleep(0.1)


async def server_events(
    api: Api, name: str, *, party_id: str | None = None, user_id: str | None = None,
    count: int = 1, timeout: float = 15.0,
) -> list[AnalyticsEvent]:  # fmt: skip
    """The server events `name` (of the party / user) once `count` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        query = select(AnalyticsEvent).where(AnalyticsEvent.name == name)
        if party_id is not None:
            query = query.where(AnalyticsEvent.party_id == uuid.UUID(party_id))
        if user_id is not None:
            query = query.where(AnalyticsEvent.user_id == uuid.UUID(user_id))
        async with api.state.sessionmaker() as session:
            rows = list((await session.execute(query)).scalars().all())
        if len(rows) >= count or time.monotonic() > deadline:
            return sorted(rows, key=lambda row: row.occurred_at)
        await asyncio.sleep(0.1)
