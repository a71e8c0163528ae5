"""Exports: requested as a job, followed over WebSocket until SUCCEEDED, downloaded through the
signed URL (CSV and JSON exactly), tampered and expired URLs refused, other people's jobs and
exports refused."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from tests.analytics_read_ops import add_party_aggregates, add_user_days
from tests.parties_ops import cast, person
from tests.support import Api, graphql_socket, live_server
from watchparty.analytics.exports import EXPORT_PURPOSE, purge_analytics_exports
from watchparty.analytics.models import AnalyticsJob
from watchparty.kit.time import utcnow
from watchparty.videos.signing import sign

REQUEST = """mutation($input: RequestAnalyticsExportInput!) {
  requestAnalyticsExport(input: $input) {
    __typename ... on AnalyticsJobPayload { job { id kind scope status downloadUrl } }
    ... on UserError { code message field } } }"""
PROGRESS = """subscription($id: ID!) { analyticsJobProgress(id: $id) {
    id status progress processed downloadUrl error } }"""
JOB = "query($id: ID!) { analyticsJob(id: $id) { status processed downloadUrl } }"


async def request(api: Api, token: str | None, **input: Any) -> dict[str, Any]:
    result = await api.gql(REQUEST, {"input": input}, token=token)
    payload: dict[str, Any] = result.data["requestAnalyticsExport"]
    return payload


async def follow_job(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    async with live_server(api.app) as base, graphql_socket(base) as ws:
        assert (await ws.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        messages = await ws.execute(PROGRESS, {"id": job_id}, timeout=30)
    assert messages[-1]["type"] == "complete", messages
    return [m["payload"]["data"]["analyticsJobProgress"] for m in messages[:-1]]


def stream_error_code(messages: list[dict[str, Any]]) -> str:
    """The code of the error that ended a subscription (sent as `error`, or `next` + complete)."""
    first = messages[0]
    errors = first["payload"] if first["type"] == "error" else first["payload"]["errors"]
    assert len(errors) == 1 and messages[-1]["type"] in ("complete", "error"), messages
    code: str = errors[0]["extensions"]["code"]
    return code


async def download(api: Api, url: str) -> Any:
    return await api.client.get(url.removeprefix(api.settings.public_url.rstrip("/")))


async def test_export_me_csv_followed_and_downloaded(any_api: Api) -> None:
    me = await person(any_api, "Me")
    await add_user_days(any_api, me.id)
    payload = await request(
        any_api, me.token, scope="ME", **{"from": "2026-11-20"}, to="2026-11-22", format="CSV"
    )
    job = payload["job"]
    assert {k: job[k] for k in ("kind", "scope", "status", "downloadUrl")} == {
        "kind": "EXPORT",
        "scope": "ME",
        "status": "QUEUED",
        "downloadUrl": None,
    }
    await any_api.drain_jobs()
    states = await follow_job(any_api, me.token, job["id"])
    assert states[-1]["status"] == "SUCCEEDED"
    assert states[-1]["processed"] == 3 and states[-1]["progress"] == 1.0
    url = states[-1]["downloadUrl"]
    assert url.startswith(f"{any_api.settings.public_url}/analytics/exports/{job['id']}?token=")
    response = await download(any_api, url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="watchparty-me-2026-11-20-2026-11-22.csv"'
    )
    assert response.text == (
        "day,watch_seconds,parties_hosted,parties_joined,messages_sent,reactions_sent\n"
        "2026-11-20,120.0,1,2,7,3\n"
        "2026-11-21,30.0,0,1,1,0\n"
        "2026-11-22,0.0,0,0,0,0\n"
    )
    # The same state through the query; nobody else sees the job.
    mine = await any_api.gql(JOB, {"id": job["id"]}, token=me.token)
    assert mine.data["analyticsJob"]["status"] == "SUCCEEDED"
    other = await person(any_api, "Other")
    assert (await any_api.gql(JOB, {"id": job["id"]}, token=other.token)).data == {
        "analyticsJob": None
    }
    # Tampered, foreign and expired links are refused.
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert (await download(any_api, tampered)).status_code == 403
    path = f"/analytics/exports/{job['id']}?token="
    expired = sign(any_api.settings, EXPORT_PURPOSE, job["id"], int(time.time()) - 1)
    assert (await any_api.client.get(path + expired)).status_code == 403
    media = sign(any_api.settings, "media", job["id"], int(time.time()) + 600)
    assert (await any_api.client.get(path + media)).status_code == 403
    foreign = sign(any_api.settings, EXPORT_PURPOSE, other.id, int(time.time()) + 600)
    assert (await any_api.client.get(path + foreign)).status_code == 403


async def test_export_party_json_for_hosts_only(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    await add_party_aggregates(api, pid, minutes=2)
    for who, typename in ((c.member, "NotAllowed"), (c.stranger, "NotAllowed")):
        refused = await request(api, who.token, scope="PARTY", targetId=pid, format="JSON")
        assert refused["__typename"] == typename, refused
    assert (await request(api, None, scope="ME"))["__typename"] == "NotAuthenticated"
    missing = await request(api, c.host.token, scope="PARTY")
    assert (missing["__typename"], missing["field"]) == ("ValidationError", "targetId")
    system = await request(api, c.host.token, scope="SYSTEM")
    assert system["__typename"] == "NotAllowed"
    too_long = await request(
        api, c.host.token, scope="PARTY", targetId=pid, **{"from": "2026-01-01"}, to="2026-03-01"
    )
    assert (too_long["__typename"], too_long["field"]) == ("ValidationError", "from")
    payload = await request(api, c.cohost.token, scope="PARTY", targetId=pid, format="JSON")
    job = payload["job"]
    # Someone else cannot follow it.
    async with live_server(api.app) as base, graphql_socket(base) as ws:
        await ws.init({"authorization": f"Bearer {c.host.token}"})
        assert stream_error_code(await ws.execute(PROGRESS, {"id": job["id"]})) == "NOT_FOUND"
    states = await follow_job(api, c.cohost.token, job["id"])
    assert [s["status"] for s in states][-1] == "SUCCEEDED"
    response = await download(api, states[-1]["downloadUrl"])
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.text) == {
        "scope": "PARTY",
        "targetId": pid,
        "from": "2026-11-20",
        "to": "2026-11-20",
        "rows": [
            {
                "minute": "2026-11-20T20:00:00Z",
                "joins": 1,
                "leaves": 0,
                "viewers": 1,
                "chat_messages": 2,
                "reactions": 1,
                "buffering_events": 0,
            },
            {
                "minute": "2026-11-20T20:01:00Z",
                "joins": 1,
                "leaves": 1,
                "viewers": 2,
                "chat_messages": 2,
                "reactions": 1,
                "buffering_events": 0,
            },
        ],
    }


async def test_progress_subscription_signed_out(api: Api) -> None:
    async with live_server(api.app) as base, graphql_socket(base) as ws:
        await ws.init()
        messages = await ws.execute(PROGRESS, {"id": "00000000-0000-0000-0000-000000000000"})
        assert stream_error_code(messages) == "NOT_AUTHENTICATED"


async def test_exports_are_rate_limited_per_user(api: Api) -> None:
    me, other = await person(api, "Me"), await person(api, "Other")
    for _ in range(10):  # RATE_LIMIT_ANALYTICS_EXPORTS: 10 an hour
        assert (await request(api, me.token, scope="ME"))["__typename"] == "AnalyticsJobPayload"
    limited = await request(api, me.token, scope="ME")
    assert limited["__typename"] == "RateLimited" and limited["code"] == "RATE_LIMITED"
    assert (await request(api, other.token, scope="ME"))["__typename"] == "AnalyticsJobPayload"


async def test_files_are_purged_after_their_retention(any_api: Api) -> None:
    me = await person(any_api, "Me")
    job = (await request(any_api, me.token, scope="ME", format="JSON"))["job"]
    await any_api.drain_jobs()
    states = await follow_job(any_api, me.token, job["id"])
    url = states[-1]["downloadUrl"]
    assert (await download(any_api, url)).status_code == 200
    async with any_api.state.sessionmaker() as session:
        await session.execute(
            update(AnalyticsJob)
            .where(AnalyticsJob.id == uuid.UUID(job["id"]))
            .values(finished_at=utcnow() - timedelta(hours=25))
        )
        await session.commit()
    assert await purge_analytics_exports({"state": any_api.state}) >= 1
    assert (await download(any_api, url)).status_code == 404
    found = await any_api.gql(JOB, {"id": job["id"]}, token=me.token)
    assert found.data["analyticsJob"] == {
        "status": "SUCCEEDED",
        "processed": 30,
        "downloadUrl": None,
    }
