"""trackEvents: every rejection reason, idempotent retries, the 500 cap, who may send, the rate
limit, properties, clock correction and privacy; on both stacks where it is cheap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests.analytics_ingest_ops import event, now_ms, stored, track
from tests.parties_ops import person
from tests.support import Api, make_settings, running_app

DAY_MS = 86_400_000
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


async def test_every_rejection_reason_with_its_index(any_api: Api) -> None:
    good = event("player.seek", properties={"fromSeconds": 1, "toSeconds": 2})
    events = [
        good,
        event("auth.sign_in"),  # a server name
        event("no.such.event"),
        event("player.play", id="short"),
        event("player.play", id="has spaces in it"),
        event("player.play", occurredAtMs=now_ms() - 4 * DAY_MS),
        event("player.play", occurredAtMs=now_ms() + 10 * 60_000),
        event("player.play", positionSeconds=-1),
        event("player.play", partyId="not-a-uuid"),
        event("page.view", properties={"path": "x" * 201}),
        event("page.view", properties={f"k{i}": i for i in range(21)}),
        event("page.view", properties={"path": {"nested": True}}),
        event("page.view", properties=["a", "list"]),
        event("page.view", properties={f"undeclared{i}": "x" * 190 for i in range(11)}),
    ]
    payload = await track(any_api, events)
    assert payload == {
        "__typename": "TrackEventsPayload",
        "accepted": 1,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "reason": "UNKNOWN_NAME"},
            {"index": 2, "reason": "UNKNOWN_NAME"},
            {"index": 3, "reason": "INVALID_ID"},
            {"index": 4, "reason": "INVALID_ID"},
            {"index": 5, "reason": "TOO_OLD"},
            {"index": 6, "reason": "FUTURE_TIME"},
            {"index": 7, "reason": "INVALID_VALUE"},
            {"index": 8, "reason": "INVALID_VALUE"},
            {"index": 9, "reason": "TOO_LARGE"},
            {"index": 10, "reason": "TOO_LARGE"},
            {"index": 11, "reason": "INVALID_VALUE"},
            {"index": 12, "reason": "INVALID_VALUE"},
            {"index": 13, "reason": "TOO_LARGE"},  # 2 KB of properties, undeclared or not
        ],
    }
    [row] = await stored(any_api, [good["id"]])
    assert row.properties == {"fromSeconds": 1, "toSeconds": 2}


async def test_retries_are_idempotent_and_counted(any_api: Api) -> None:
    me = await person(any_api)
    first = [event() for _ in range(3)]
    assert await track(any_api, first, token=me.token) == {
        "__typename": "TrackEventsPayload", "accepted": 3, "duplicates": 0, "rejected": [],
    }  # fmt: skip
    # The retry comes with another sentAtMs (another correction): still the same events.
    again = [*first, event(), first[0]]
    payload = await track(any_api, again, token=me.token, sentAtMs=now_ms() - 30_000)
    assert (payload["accepted"], payload["duplicates"], payload["rejected"]) == (1, 4, [])
    rows = await stored(any_api, [e["id"] for e in first] + [again[3]["id"]])
    assert len(rows) == 4
    assert {row.user_id for row in rows} == {uuid.UUID(me.id)}
    assert all(row.anonymous_id is None for row in rows)


async def test_more_than_500_events_store_nothing(any_api: Api) -> None:
    api = any_api
    events = [event() for _ in range(501)]
    payload = await track(api, events)
    assert payload == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": "Send at most 500 events per call (got 501).",
        "field": "events",
    }
    assert await stored(api, [events[0]["id"]], timeout=1.5) == []
    payload = await track(api, events[:500])
    assert (payload["accepted"], payload["duplicates"]) == (500, 0)


async def test_anonymous_needs_an_anonymous_id(any_api: Api) -> None:
    result = await any_api.gql(
        "mutation($i: TrackEventsInput!) { trackEvents(input: $i) { __typename "
        "... on UserError { code field } } }",
        {"i": {"events": [event()]}},
    )
    assert result.data["trackEvents"] == {
        "__typename": "ValidationError", "code": "VALIDATION", "field": "anonymousId",
    }  # fmt: skip
    payload = await track(any_api, [event()], anonymousId="bad id!")
    assert (payload["__typename"], payload["field"]) == ("ValidationError", "anonymousId")
    one = event()
    payload = await track(any_api, [one], anonymousId="browser-123456")
    assert payload["accepted"] == 1
    [row] = await stored(any_api, [one["id"]])
    assert (row.user_id, row.anonymous_id, row.source) == (None, "browser-123456", "CLIENT")


async def test_clock_correction_privacy_and_columns(api: Api) -> None:
    party, video = str(uuid.uuid4()), str(uuid.uuid4())
    sent = now_ms() - 3_600_000  # the client's clock is an hour behind
    late = event(
        "player.heartbeat",
        occurredAtMs=sent - 10_000,
        partyId=party,
        videoId=video,
        positionSeconds=12.5,
        properties={"watchedSeconds": 10, "undeclared": "dropped"},
    )
    payload = await track(
        api,
        [late],
        sentAtMs=sent,
        headers={"user-agent": CHROME_ANDROID, "x-forwarded-for": "198.51.100.7"},
    )
    assert payload["accepted"] == 1
    [row] = await stored(api, [late["id"]])
    corrected = (row.occurred_at - row.received_at).total_seconds()
    assert -11 < corrected < -9  # ten seconds before it was received, not an hour
    raw_day = datetime.fromtimestamp(late["occurredAtMs"] / 1000, UTC).date()
    assert row.day == raw_day
    assert (str(row.party_id), str(row.video_id), row.position_seconds) == (party, video, 12.5)
    assert row.properties == {"watchedSeconds": 10}
    assert row.ip == "127.0.0.0"  # the test client's address, truncated to its /24
    assert (row.browser, row.os, row.device) == ("Chrome Mobile", "Android", "MOBILE")


async def test_rate_limits_anonymous_and_signed_in(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path_factory.mktemp("limits"),
        rate_limit_analytics="3/60",
        rate_limit_analytics_anonymous="2/60",
    )
    async with running_app(settings, worker=False) as api:
        for _ in range(2):
            assert (await track(api, [event()]))["accepted"] == 1
        limited = await track(api, [event()])
        assert limited["__typename"] == "RateLimited" and limited["code"] == "RATE_LIMITED"
        assert 1 <= limited["retryAfterSeconds"] <= 60
        beacon = await api.client.post(  # the beacon counts against the same limit
            "/analytics/events",
            json={"events": [event()], "anonymousId": "beacon-anon-9"},
        )
        assert beacon.status_code == 429 and beacon.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(beacon.headers["retry-after"]) <= 60
        me = await person(api)  # signed in: its own, wider limit
        for _ in range(3):
            assert (await track(api, [event()], token=me.token))["accepted"] == 1
        assert (await track(api, [event()], token=me.token))["__typename"] == "RateLimited"
