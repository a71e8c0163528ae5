"""A frozen (SIGSTOP) or killed Redis does not take the API down (issue 9, faults 1 and 3).

Each test runs its own redis-server (never the shared one) under an app with short Redis timeouts
and a tiny database pool. While Redis is away: sign-in and chat keep working (their rate limits
fall back to per-process counters), reads that need only PostgreSQL keep answering however many
Redis-bound mutations run at once, password-reset mails and voice answer a typed, retryable
`ServiceUnavailable`, `/readyz` names Redis, and jobs wait in memory. Once Redis is back,
everything is shared through it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.accounts_ops import LOGIN, REQUEST_RESET, login, mutate
from tests.chat_ops import chat, chat_stream, next_chat
from tests.parties_ops import Person, create_party, party_query, person
from tests.redis_server import RedisServer
from tests.support import Api, live_server, make_settings, running_app
from tests.test_voice import op
from tests.videos_ops import start_upload, upload_path
from watchparty.jobs_buffer import BufferedArqJobQueue

T = TypeVar("T")

# Generous bounds that turn a hang into a failure (never asserted as speed).
BOUND_SECONDS = 20.0

UNAVAILABLE = "... on ServiceUnavailable { retryAfterSeconds }"
RESET_OR_UNAVAILABLE = REQUEST_RESET.replace("} } }", f"}} {UNAVAILABLE} }} }}")


@pytest.fixture
async def api(pg_url: str, tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Api]:
    """This module's app (instead of the shared one): on the private Redis, worker-less."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        redis_url=redis_server.url,
        redis_socket_timeout_seconds=0.5,
        redis_connect_timeout_seconds=0.5,
        redis_cooldown_seconds=0.5,
        db_pool_size=2,  # two connections and two in overflow, for 30 requests at once
        rate_limit_login_account="3/60",
        rate_limit_chat="1000/10",
    )
    async with running_app(settings, worker=False) as app:
        yield app


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, BOUND_SECONDS)


async def send_message(api: Api, who: Person, party_id: str, body: str) -> dict[str, Any]:
    return await chat(api, "sendMessage", who.token, partyId=party_id, body=body)


async def request_reset(api: Api, email: str) -> dict[str, Any]:
    return await mutate(api, RESET_OR_UNAVAILABLE, "requestPasswordReset", email=email)


async def me(api: Api, who: Person) -> Any:
    return (await api.gql("{ me { id } }", token=who.token)).data["me"]


async def readyz(api: Api) -> tuple[int, Any]:
    response = await api.client.get("/readyz")
    return response.status_code, response.json()


async def until_ready(api: Api) -> None:
    for _ in range(200):
        if (await readyz(api))[0] == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(await readyz(api))


def service_unavailable(result: dict[str, Any]) -> None:
    assert result["__typename"] == "ServiceUnavailable", result
    assert result["code"] == "SERVICE_UNAVAILABLE"
    assert result["field"] is None
    assert result["retryAfterSeconds"] == 1  # the cool-down (0.5 s), rounded up
    assert result["message"] == "This is unavailable for a moment. Try again in 1 seconds."


async def rate_limit_keys(server: RedisServer, prefix: str, key: str) -> int:
    client = server.client()
    try:
        return int(await client.exists(f"{prefix}rl:{key}"))
    finally:
        await client.aclose()


async def test_a_frozen_redis_degrades_and_recovers(api: Api, redis_server: RedisServer) -> None:
    host = await person(api, "Host")
    host_email = (await api.gql("{ me { email } }", token=host.token)).data["me"]["email"]
    party = await create_party(api, host)
    queue = api.settings.redis_key_prefix + "arq:queue"
    control = redis_server.client()
    queued_before = await control.zcard(queue)  # the verification mail of the host
    jobs = api.state.jobs
    assert isinstance(jobs, BufferedArqJobQueue)

    redis_server.freeze()
    try:
        # Thirty Redis-bound mutations at once against four database connections, and reads
        # beside them: every one answers, none with an internal error.
        sends = [send_message(api, host, party["id"], f"m{n}") for n in range(30)]
        reads = [
            me(api, host),
            party_query(
                api, party["id"], host.token, "id title onlineCount voiceParticipants { muted }"
            ),
        ]
        results = await bounded(asyncio.gather(*sends, *reads))
        assert [r["__typename"] for r in results[:30]] == ["ChatMessagePayload"] * 30
        assert results[30] == {"id": host.id}
        # Presence and voice rooms are advisory in reads: empty while Redis is away.
        assert results[31] == {
            "id": party["id"],
            "title": "Movie night",
            "onlineCount": 0,
            "voiceParticipants": [],
        }

        # Sign-in fails open to this process's counters: still bounded (3 per account here).
        outcomes = [await bounded(login(api, host_email)) for _ in range(4)]
        assert [o["__typename"] for o in outcomes] == ["AuthPayload"] * 3 + ["RateLimited"]

        # Password-reset mails fail closed; voice lives in Redis only.
        service_unavailable(await bounded(request_reset(api, host_email)))
        joined = await bounded(op(api, "joinVoice", host, partyId=party["id"]))
        assert joined["__typename"] == "ServiceUnavailable", joined

        # A registration's mail job waits in memory (beside any notification jobs of the
        # changes above).
        waiting = jobs.pending
        newcomer = await bounded(person(api, "Newcomer"))
        assert jobs.pending == waiting + 1
        waiting += 1

        status, body = await bounded(readyz(api))
        assert status == 503
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("error: ")
    finally:
        redis_server.thaw()

    await bounded(until_ready(api))
    assert await readyz(api) == (200, {"status": "ok", "checks": {"database": "ok", "redis": "ok"}})
    # Shared again: counted in Redis, the waiting job delivered, voice and resets working.
    assert (await login(api, host_email))["__typename"] == "AuthPayload"
    assert await rate_limit_keys(redis_server, api.settings.redis_key_prefix, "login:ip:127.0.0.1")
    for _ in range(100):
        if jobs.pending == 0:
            break
        await asyncio.sleep(0.05)
    assert await control.zcard(queue) == queued_before + waiting
    await control.aclose()
    assert (await request_reset(api, host_email)) == {
        "__typename": "RequestPasswordResetPayload",
        "ok": True,
    }
    joined = await op(api, "joinVoice", newcomer, partyId=party["id"])
    assert joined["__typename"] == "NotAllowed"  # not a member: the ordinary answer again
    joined = await op(api, "joinVoice", host, partyId=party["id"])
    assert joined["__typename"] == "VoiceParticipantPayload", joined
    assert (await send_message(api, host, party["id"], "back"))["__typename"] == (
        "ChatMessagePayload"
    )


async def test_a_killed_redis_fails_limits_open_or_closed(
    api: Api, redis_server: RedisServer
) -> None:
    host = await person(api, "Host")
    email = (await api.gql("{ me { email } }", token=host.token)).data["me"]["email"]
    party = await create_party(api, host)

    await redis_server.stop()
    # Before the fix: ConnectionRefusedError, answered INTERNAL_SERVER_ERROR.
    outcomes = [await bounded(login(api, email)) for _ in range(4)]
    assert [o["__typename"] for o in outcomes] == ["AuthPayload"] * 3 + ["RateLimited"]
    assert outcomes[3]["code"] == "RATE_LIMITED"
    sent = await bounded(send_message(api, host, party["id"], "still here"))
    assert sent["__typename"] == "ChatMessagePayload", sent
    service_unavailable(await bounded(request_reset(api, email)))
    assert await bounded(me(api, host)) == {"id": host.id}
    # An upload needs its lock (in Redis): a typed 503 with Retry-After, nothing written
    # (before the fix: 500). The same PUT goes through once Redis is back.
    upload = await bounded(start_upload(api, host.token, 4))
    refused = await bounded(api.client.put(upload_path(upload), content=b"abcd"))
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert int(refused.headers["retry-after"]) >= 1
    head = await api.client.head(upload_path(upload))
    assert head.headers["upload-offset"] == "0"

    await redis_server.start()  # the same port: the clients reconnect
    await bounded(until_ready(api))
    accepted = await bounded(api.client.put(upload_path(upload), content=b"abcd"))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["receivedBytes"] == 4
    # Counted in Redis again (the process's own counts are not carried over).
    result = await api.gql(LOGIN, {"input": {"email": email, "password": "correct horse battery"}})
    assert result.data["login"]["__typename"] == "AuthPayload"
    assert await rate_limit_keys(
        redis_server, api.settings.redis_key_prefix, f"login:account:{email}"
    )
    assert (await request_reset(api, email))["__typename"] == "RequestPasswordResetPayload"


async def test_new_subscriptions_work_while_redis_is_frozen(
    api: Api, redis_server: RedisServer
) -> None:
    host = await person(api, "Host")
    party = await create_party(api, host)
    async with live_server(api.app) as base:
        redis_server.freeze()
        try:
            async with chat_stream(base, host.token, party["id"]) as stream:
                snapshot = await bounded(stream.next())
                assert snapshot["event"]["__typename"] == "PartySnapshot"
                await send_message(api, host, party["id"], "frozen")
                added = await bounded(next_chat(stream))
                assert added["event"]["__typename"] == "ChatMessageAdded"
                assert added["event"]["message"]["body"] == "frozen"
        finally:
            redis_server.thaw()
