"""`trackEvents` and `POST /analytics/events`: validate a batch of client events, correct their
clocks, strip what privacy forbids, rate limit the caller and hand the rest to the store.

Each event is judged on its own: a bad one is rejected with a reason (`Reason`) and its index,
the others go on. What refuses the whole call: more than `MAX_EVENTS` events, a missing or bad
`anonymousId` for an anonymous caller (`ValidationProblem`), the caller's rate limit, or the
stream being full (`RateLimited`).

Clock correction: the client says when it sent the batch (`sentAtMs`, its clock); the server
knows when it received it, so `offset = received - sentAtMs` and `occurred_at = occurredAtMs +
offset` (no `sentAtMs`: no correction). The row's `day` is the UTC date of the raw
`occurredAtMs`, so a retry (with another `sentAtMs`) is the same `(day, id)` key.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from watchparty.analytics.catalog import (
    CATALOG,
    CLIENT_NAMES,
    MAX_PROPERTIES,
    MAX_PROPERTY_KEY,
    MAX_PROPERTY_STRING,
)
from watchparty.analytics.models import EventSource
from watchparty.analytics.privacy import reduce_user_agent, truncate_ip
from watchparty.analytics.store import EventRow, Stored, store
from watchparty.errors import ValidationProblem
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.state import AppState

MAX_EVENTS = 500  # per call
MAX_EVENT_BYTES = 4096  # one event, serialized as JSON (as stored)
MAX_PROPERTIES_BYTES = 2048  # its properties as sent (keys and values, undeclared ones too)
FUTURE_TOLERANCE = timedelta(minutes=5)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# What PostgreSQL (text, jsonb) cannot store or we will not: C0 controls but tab and line
# breaks, and unpaired surrogates (the beacon's JSON can spell both; GraphQL's guard stops them
# before `trackEvents`). A stored row the database refuses would block the drain.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class Reason(StrEnum):
    UNKNOWN_NAME = "UNKNOWN_NAME"  # not a client event of the catalog (server names included)
    TOO_LARGE = "TOO_LARGE"  # too many properties, a key or string too long, over the bytes
    TOO_OLD = "TOO_OLD"  # older than ANALYTICS_MAX_EVENT_AGE_HOURS (after correction)
    FUTURE_TIME = "FUTURE_TIME"  # more than 5 minutes ahead of the server (after correction)
    INVALID_ID = "INVALID_ID"  # not 8-64 characters of A-Z a-z 0-9 _ -
    INVALID_VALUE = "INVALID_VALUE"  # a time, position, id or property of the wrong kind


@dataclass(frozen=True, slots=True)
class Draft:
    """One event as a client sent it (GraphQL input or beacon JSON: anything may be wrong)."""

    id: Any
    name: Any
    occurred_at_ms: Any
    party_id: Any = None
    video_id: Any = None
    position_seconds: Any = None
    properties: Any = None


# An event's fields as GraphQL and the beacon's JSON name them -> `Draft` fields.
DRAFT_FIELDS = {
    "id": "id",
    "name": "name",
    "occurredAtMs": "occurred_at_ms",
    "partyId": "party_id",
    "videoId": "video_id",
    "positionSeconds": "position_seconds",
    "properties": "properties",
}


def draft_of(item: Mapping[str, Any]) -> Draft:
    return Draft(**{ours: item.get(theirs) for theirs, ours in DRAFT_FIELDS.items()})


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: uuid.UUID | None
    anonymous_id: str | None
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int
    duplicates: int
    rejected: list[Rejection] = field(default_factory=list)


class Rejected(Exception):
    def __init__(self, reason: Reason) -> None:
        self.reason = reason


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected(Reason.INVALID_VALUE)
    return float(value)


def _optional_uuid(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise Rejected(Reason.INVALID_VALUE)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Rejected(Reason.INVALID_VALUE) from None


def clean_properties(name: str, raw: Any) -> dict[str, Any]:
    """The declared properties of `raw` (others dropped); scalars only, bounded."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise Rejected(Reason.INVALID_VALUE)
    if len(raw) > MAX_PROPERTIES:
        raise Rejected(Reason.TOO_LARGE)
    allowed = CATALOG[name].properties
    kept: dict[str, Any] = {}
    size = 0
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > MAX_PROPERTY_KEY:
            raise Rejected(Reason.TOO_LARGE)
        if UNSTORABLE.search(key):
            raise Rejected(Reason.INVALID_VALUE)
        size += len(key) + 8
        if isinstance(value, str):
            size += len(value)
            if len(value) > MAX_PROPERTY_STRING or size > MAX_PROPERTIES_BYTES:
                raise Rejected(Reason.TOO_LARGE)
            if UNSTORABLE.search(value):
                raise Rejected(Reason.INVALID_VALUE)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise Rejected(Reason.INVALID_VALUE)
        elif value is not None and not isinstance(value, bool | int):
            raise Rejected(Reason.INVALID_VALUE)  # lists and objects: scalars only
        if key in allowed:
            kept[key] = value
    return kept


@dataclass(frozen=True, slots=True)
class Window:
    """The times a call's events must fall in, and its clock correction."""

    received_at: datetime
    offset_ms: float
    oldest: datetime
    newest: datetime


def window(received_at: datetime, sent_at_ms: float | None, *, max_age: timedelta) -> Window:
    received_ms = received_at.timestamp() * 1000
    offset = received_ms - sent_at_ms if sent_at_ms is not None else 0.0
    return Window(received_at, offset, received_at - max_age, received_at + FUTURE_TOLERANCE)


def judge(draft: Draft, caller: Caller, when: Window, agent: tuple[Any, ...]) -> EventRow:
    """The row for `draft`, or `Rejected` with the first reason found."""
    if not isinstance(draft.id, str) or not ID_PATTERN.match(draft.id):
        raise Rejected(Reason.INVALID_ID)
    if not isinstance(draft.name, str) or draft.name not in CLIENT_NAMES:
        raise Rejected(Reason.UNKNOWN_NAME)
    raw_ms = _number(draft.occurred_at_ms)
    position = None
    if draft.position_seconds is not None:
        position = _number(draft.position_seconds)
        if position < 0:
            raise Rejected(Reason.INVALID_VALUE)
    party_id = _optional_uuid(draft.party_id)
    video_id = _optional_uuid(draft.video_id)
    properties = clean_properties(draft.name, draft.properties)
    try:
        raw = datetime.fromtimestamp(raw_ms / 1000, UTC)
        occurred = datetime.fromtimestamp((raw_ms + when.offset_ms) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected(Reason.INVALID_VALUE) from None
    # The corrected time, and the raw day (the partition key) alike, within the window.
    if occurred < when.oldest or raw.date() < when.oldest.date():
        raise Rejected(Reason.TOO_OLD)
    if occurred > when.newest or raw.date() > (when.newest + timedelta(days=1)).date():
        raise Rejected(Reason.FUTURE_TIME)
    return EventRow(
        raw.date(),
        draft.id,
        draft.name,
        EventSource.CLIENT,
        occurred,
        when.received_at,
        user_id=caller.user_id,
        anonymous_id=caller.anonymous_id,
        party_id=party_id,
        video_id=video_id,
        position_seconds=position,
        properties=properties,
        ip=agent[0],
        browser=agent[1],
        os=agent[2],
        device=agent[3],
    )


def validate(
    drafts: Sequence[Draft],
    caller: Caller,
    when: Window,
) -> tuple[list[EventRow], list[str], list[Rejection], int]:
    """(rows to store, their stream encoding, rejections, repeats of an id within this call).
    The encoding is the event's serialized size: over `MAX_EVENT_BYTES` it is TOO_LARGE."""
    reduced = reduce_user_agent(caller.user_agent)
    agent = (truncate_ip(caller.ip), reduced.browser, reduced.os, reduced.device)
    rows: list[EventRow] = []
    encoded: list[str] = []
    rejected: list[Rejection] = []
    seen: set[tuple[Any, str]] = set()
    repeats = 0
    for index, draft in enumerate(drafts):
        try:
            row = judge(draft, caller, when, agent)
        except Rejected as exc:
            rejected.append(Rejection(index, exc.reason))
            continue
        text = row.encode()
        if len(text) > MAX_EVENT_BYTES:
            rejected.append(Rejection(index, Reason.TOO_LARGE))
            continue
        key = (row.day, row.id)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        rows.append(row)
        encoded.append(text)
    return rows, encoded, rejected, repeats


def check_anonymous_id(value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValidationProblem(
                "Anonymous callers must send an anonymousId (8-64 characters of A-Z a-z 0-9 _ -).",
                field="anonymousId",
            )
        return None
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValidationProblem(
            "anonymousId must be 8-64 characters of A-Z a-z 0-9 _ -.", field="anonymousId"
        )
    return value


def check_count(count: int) -> None:
    if count > MAX_EVENTS:
        raise ValidationProblem(
            f"Send at most {MAX_EVENTS} events per call (got {count}).", field="events"
        )


async def track_events(
    state: AppState,
    caller: Caller,
    drafts: Sequence[Draft],
    sent_at_ms: Any = None,
    *,
    received_at: datetime | None = None,
) -> Outcome:
    """The whole call: bounds, rate limit, validation, storage. Raises `ValidationProblem` or
    `RateLimited` for the call as a whole; per-event problems are in `Outcome.rejected`."""
    settings = state.settings
    check_count(len(drafts))
    if caller.user_id is None and caller.anonymous_id is None:
        check_anonymous_id(None, required=True)
    if sent_at_ms is not None:
        try:
            sent_at_ms = _number(sent_at_ms)
        except Rejected:
            raise ValidationProblem("sentAtMs must be a finite number.", field="sentAtMs") from None
    if caller.user_id is not None:
        key, limit = f"analytics:user:{caller.user_id}", settings.rate_limit_analytics
    else:
        key = f"analytics:ip:{caller.ip or 'unknown'}"
        limit = settings.rate_limit_analytics_anonymous
    await state.limiter.hit(key, Limit.parse(limit))
    max_age = timedelta(
        hours=min(settings.analytics_max_event_age_hours, settings.analytics_retention_days * 24)
    )
    when = window(received_at or utcnow(), sent_at_ms, max_age=max_age)
    rows, encoded, rejected, repeats = validate(drafts, caller, when)
    if not settings.analytics_enabled:
        return Outcome(len(rows), repeats, rejected)  # accepted and let go: analytics is off
    stored = await store(state, rows, encoded) if rows else Stored(0, 0)
    return Outcome(stored.accepted, stored.duplicates + repeats, rejected)
