"""Two real `watchparty serve` processes on one PostgreSQL database and a private redis-server.

Clients on either process see the same events in the same order; controls from both sides never
produce the same revision twice; a Redis restart in the middle loses nothing; and when a process
is killed, its members go offline for everyone else within the presence TTL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.support import PASSWORD, RELAXED_LIMITS, GraphQLResponse, free_port, unique_email
from tests.test_party_stream_support import (
    PartyStream,
    User,
    create_party,
    join,
    party_field,
    party_stream,
    rename,
    seek,
    user,
)

WATCHPARTY = Path(sys.executable).parent / "watchparty"
PRESENCE_TTL_SECONDS = 3


class Serve:
    """One `watchparty serve` subprocess and an HTTP GraphQL client for it."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.http = httpx.AsyncClient(base_url=self.base, timeout=30)

    async def start(self) -> None:
        with self.log.open("wb") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(WATCHPARTY), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                cwd=self.tmp, env=self.env, stdout=sink, stderr=sink,
            )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            if self.process.returncode is not None:
                pytest.fail(f"watchparty serve exited:\n{self.log.read_text()}")
            try:
                if (await self.http.get("/healthz", timeout=1)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"watchparty serve did not answer /healthz:\n{self.log.read_text()}")
            await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbyes (a crashed or OOM-killed process)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()
        await self.http.aclose()

    # The helpers' `Api` protocol.
    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResponse:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}})
        response = await self.http.post("/graphql", content=body, headers=headers)
        return GraphQLResponse(
            response.status_code, response.json(), response.headers, response.cookies
        )

    async def register(self, *, display_name: str = "Test User") -> dict[str, Any]:
        result = await self.gql(
            """mutation($input: RegisterInput!) { register(input: $input) {
                ... on AuthPayload { accessToken user { id } } ... on UserError { code } } }""",
            {
                "input": {
                    "email": unique_email(),
                    "password": PASSWORD,
                    "displayName": display_name,
                }
            },
        )
        payload: dict[str, Any] = result.data["register"]
        assert "accessToken" in payload, payload
        return payload


@asynccontextmanager
async def two_processes(
    pg_url: str, redis_url: str, tmp: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[list[Serve]]:
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"wpmp-{uuid.uuid4().hex[:8]}:",
        "AUTO_MIGRATE": "false",
        "DATA_DIR": str(tmp),
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL_SECONDS),
        "PRESENCE_HEARTBEAT_SECONDS": "1",
        "REALTIME_POLL_SECONDS": "1",
        **{key.upper(): value for key, value in RELAXED_LIMITS.items()},
        **(extra_env or {}),
    }
    servers = [Serve(env, tmp), Serve(env, tmp)]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        yield servers
    finally:
        await asyncio.gather(*(server.stop() for server in servers))


async def stored_events(stream: PartyStream, count: int) -> list[tuple[str, str, Any]]:
    """The next `count` stored events as (cursor, type, revision or title)."""
    found = []
    while len(found) < count:
        item = await stream.next_event("PresenceChanged")
        event = item["event"]
        detail = (
            event["playback"]["revision"]
            if event["__typename"] == "PlaybackChanged"
            else event.get("party", {}).get("title")
        )
        found.append((item["cursor"], event["__typename"], detail))
    return found


async def open_streams(
    exits: AsyncExitStack, plan: list[tuple[Serve, User]], party_id: str
) -> list[PartyStream]:
    streams = []
    for server, who in plan:
        stream = await exits.enter_async_context(party_stream(server.base, who, party_id))
        assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
        streams.append(stream)
    return streams


async def test_both_processes_deliver_the_same_events_in_the_same_order(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(a, "Host")
        guest = await user(b, "Guest")
        party_id = await create_party(a, host, visibility="PUBLIC", controlPolicy="EVERYONE")
        await join(b, guest, party_id)
        streams = await open_streams(ex, [(a, host), (b, guest), (b, host), (a, guest)], party_id)

        async def control(server: Serve, who: User, tag: str, base: float) -> int:
            """Seeks and renames from one side; returns how many changes it made."""
            changes = 0
            for n in range(8):
                if n % 3 == 2:
                    await rename(server, host, party_id, f"{tag} {n}")  # hosts only
                    changes += 1
                    continue
                result = await server.gql(
                    """mutation($input: SeekInput!) { seek(input: $input) { __typename } }""",
                    {"input": {"partyId": party_id, "positionSeconds": base + n}},
                    token=who.token,
                )
                # Without expectedRevision a lost race is re-applied: it never conflicts.
                assert result.data["seek"]["__typename"] == "PlaybackPayload", result.data
                changes += 1
            return changes

        made = await asyncio.gather(control(a, host, "a", 0.0), control(b, guest, "b", 100.0))
        total = sum(made)
        seen = await asyncio.gather(*(stored_events(stream, total) for stream in streams))
    first = seen[0]
    assert all(other == first for other in seen[1:])
    start = int(first[0][0])
    assert [int(cursor) for cursor, _, _ in first] == list(range(start, start + total))
    revisions = [detail for _, kind, detail in first if kind == "PlaybackChanged"]
    assert len(revisions) == total - 4
    assert revisions == list(range(revisions[0], revisions[0] + len(revisions)))  # no repeats
    titles = sorted(detail for _, kind, detail in first if kind == "PartyUpdated")
    assert titles == ["a 2", "a 5", "b 2", "b 5"]


async def test_competing_controls_from_both_processes_have_one_winner(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(a, "Host")
        cohost = await user(b, "Cohost")
        party_id = await create_party(a, host, visibility="PUBLIC", controlPolicy="EVERYONE")
        await join(b, cohost, party_id)
        (watch_a, watch_b) = await open_streams(ex, [(a, host), (b, cohost)], party_id)
        revision = (await party_field(a, host, party_id, "playback { revision }"))["playback"][
            "revision"
        ]
        outcomes = []
        for n in range(6):
            query = """mutation($input: SeekInput!) { seek(input: $input) { __typename
                ... on PlaybackPayload { playback { revision positionSeconds } }
                ... on RevisionConflict { current { revision positionSeconds } } } }"""
            results = await asyncio.gather(
                *(
                    server.gql(
                        query,
                        {
                            "input": {
                                "partyId": party_id,
                                "positionSeconds": float(10 * n + k),
                                "expectedRevision": revision,
                            }
                        },
                        token=who.token,
                    )
                    for k, (server, who) in enumerate(((a, host), (b, cohost)))
                )
            )
            kinds = sorted(r.data["seek"]["__typename"] for r in results)
            assert kinds == ["PlaybackPayload", "RevisionConflict"]
            (won,) = [
                r.data["seek"] for r in results if r.data["seek"]["__typename"] == "PlaybackPayload"
            ]
            (lost,) = [
                r.data["seek"] for r in results if r.data["seek"]["__typename"] != "PlaybackPayload"
            ]
            assert won["playback"]["revision"] == revision + 1
            assert lost["current"] == won["playback"]  # the loser is told what won
            outcomes.append(won["playback"])
            revision += 1
        for stream in (watch_a, watch_b):
            events = await stored_events(stream, 6)
            assert [detail for _, _, detail in events] == [o["revision"] for o in outcomes]


async def test_a_redis_restart_in_the_middle_loses_nothing(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(a, "Host")
        party_id = await create_party(a, host, visibility="PUBLIC")
        streams = await open_streams(ex, [(a, host), (b, host)], party_id)
        revisions = [await seek(a, host, party_id, 1.0)]
        for stream in streams:
            assert [d for _, _, d in await stored_events(stream, 1)] == revisions

        await redis_server.stop()  # killed: no goodbye to the subscribers
        for n in range(3):  # controls keep working on both sides (PostgreSQL holds the log)
            revisions.append(await seek(a, host, party_id, 10.0 + n))
            revisions.append(await seek(b, host, party_id, 20.0 + n))
        await redis_server.start()  # same port, empty: no subscriptions, no presence

        revisions.append(await seek(b, host, party_id, 99.0))
        for stream in streams:
            assert [d for _, _, d in await stored_events(stream, 7)] == revisions[1:]
        # The streams are live again through Redis, not just caught up.
        revisions.append(await seek(a, host, party_id, 100.0))
        for stream in streams:
            assert [d for _, _, d in await stored_events(stream, 1)] == revisions[-1:]


async def test_a_killed_process_members_go_offline(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(b, "Host")
        guest = await user(a, "Guest")
        party_id = await create_party(b, host, visibility="PUBLIC")
        await join(a, guest, party_id)
        (watcher,) = await open_streams(ex, [(b, host)], party_id)
        await ex.enter_async_context(party_stream(a.base, guest, party_id))

        async def presence_of(who: User) -> bool:
            while True:
                item = await watcher.next(timeout=PRESENCE_TTL_SECONDS * 5)
                event = item["event"]
                if event["__typename"] != "PresenceChanged":
                    continue
                if who.id in event["cameOnline"] or who.id in event["wentOffline"]:
                    return who.id in event["cameOnline"]

        assert await presence_of(guest) is True
        assert (await party_field(b, host, party_id, "onlineCount"))["onlineCount"] == 2

        await a.kill()
        assert await presence_of(guest) is False
        assert (await party_field(b, host, party_id, "onlineCount"))["onlineCount"] == 1
        members = await party_field(
            b, host, party_id, "members(online: true) { edges { node { user { id } } } }"
        )
        assert [e["node"]["user"]["id"] for e in members["members"]["edges"]] == [host.id]
