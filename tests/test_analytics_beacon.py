"""`POST /analytics/events` (sendBeacon): both content types, 204, and every refusal."""

from __future__ import annotations

import json
import uuid

from tests.analytics_ingest_ops import event, stored
from tests.parties_ops import person
from tests.support import Api


async def post(api: Api, body: object, content_type: str = "text/plain", **headers: str) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await api.client.post(
        "/analytics/events", content=raw, headers={"content-type": content_type, **headers}
    )
    return response.status_code


async def test_both_content_types_store_the_events(any_api: Api) -> None:
    plain = [event("page.view", properties={"path": "/p"}), event("player.pause")]
    body = {"events": plain, "anonymousId": "beacon-anon-1"}
    assert await post(any_api, body, "text/plain;charset=UTF-8") == 204
    me = await person(any_api)
    signed = [event("player.complete")]
    # A bare array, signed in with the bearer header; then the token in the body (a beacon).
    assert (
        await post(any_api, signed, "application/json", authorization=f"Bearer {me.token}") == 204
    )
    in_body = [event("player.play")]
    assert await post(any_api, {"events": in_body, "accessToken": me.token}) == 204
    rows = await stored(any_api, [e["id"] for e in plain + signed + in_body])
    assert [(r.name, r.anonymous_id, r.user_id) for r in rows] == [
        ("page.view", "beacon-anon-1", None),
        ("player.pause", "beacon-anon-1", None),
        ("player.complete", None, uuid.UUID(me.id)),
        ("player.play", None, uuid.UUID(me.id)),
    ]
    assert rows[0].properties == {"path": "/p"}
    # Text PostgreSQL cannot store is rejected (INVALID_VALUE), the rest of the call goes on.
    nul, fine = event("page.view", properties={"path": "/a\u0000b"}), event("page.view")
    raw = json.dumps({"events": [nul, fine], "anonymousId": "beacon-anon-1"}).encode()
    assert await post(any_api, raw) == 204
    assert [r.id for r in await stored(any_api, [fine["id"], nul["id"]], timeout=2)] == [fine["id"]]
    # A retry is answered the same and stores nothing twice.
    assert await post(any_api, body) == 204
    assert len(await stored(any_api, [e["id"] for e in plain])) == 2


async def test_refusals(api: Api) -> None:
    client = api.client
    response = await client.post(
        "/analytics/events", content=b"{nope", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED"
    assert await post(api, {"anonymousId": "beacon-anon-2"}) == 400  # no events
    assert await post(api, [1, 2]) == 400  # events must be objects
    assert await post(api, [event()]) == 401  # neither signed in nor anonymous
    too_many = {"events": [event() for _ in range(501)], "anonymousId": "beacon-anon-3"}
    response = await client.post(
        "/analytics/events", content=json.dumps(too_many), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION", "message": "Send at most 500 events per call (got 501).",
    }  # fmt: skip
    huge = b"[" + b" " * 1_000_001 + b"]"
    assert await post(api, huge) == 413
    assert await post(api, [event()], "application/x-www-form-urlencoded") == 415
    assert (await client.get("/analytics/events")).status_code == 405
