"""The `watchparty` command, run as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.ops_support import (
    command_env,
    run_command,
    scratch_database,
    served,
    watchparty_command,
)
from tests.support import REDIS_URL, free_port, make_settings
from watchparty.migrations import alembic_config
from watchparty.registry import job_functions, periodic_jobs
from watchparty.schema import export_sdl
from watchparty.seed import DEMO_PASSWORD
from watchparty.state import build_state

STRONG_KEYS = "k1:" + "x" * 40

LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
    __typename
    ... on AuthPayload { accessToken user { email displayName emailVerified } }
    ... on UserError { code message }
} }"""


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_production_refuses_default_secrets_and_sqlite(tmp_path: Path) -> None:
    result = run_command(["serve"], command_env(tmp_path, APP_ENV="production"), tmp_path)
    assert result.returncode == 2, result
    assert result.stderr.startswith("configuration error: refusing to start in production: ")
    for problem in (
        "JWT_KEYS must be set to secrets of at least 32 characters",
        "DATABASE_URL must point at PostgreSQL",
        "REDIS_URL must be set",
        "PUBLIC_URL must be https://",
    ):
        assert problem in result.stderr


def test_production_refuses_sqlite_even_with_real_secrets(tmp_path: Path) -> None:
    env = command_env(
        tmp_path,
        APP_ENV="production",
        JWT_KEYS=STRONG_KEYS,
        JWT_ACTIVE_KID="k1",
        REDIS_URL=REDIS_URL,
        PUBLIC_URL="https://watchparty.example",
    )
    result = run_command(["serve"], env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: refusing to start in production: "
        "DATABASE_URL must point at PostgreSQL"
    )


def test_serve_refuses_several_workers_on_the_embedded_stack(tmp_path: Path) -> None:
    result = run_command(["serve", "--workers", "2"], command_env(tmp_path), tmp_path)
    assert result.returncode == 2, result
    assert result.stderr == (
        "configuration error: --workers above 1 needs REDIS_URL: the embedded stack keeps the "
        "broadcast, presence and rate limits in one process's memory\n"
    )


def test_serve_exits_when_redis_does_not_answer(tmp_path: Path, pg_url: str) -> None:
    env = command_env(tmp_path, DATABASE_URL=pg_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = run_command(["serve", "--port", str(free_port())], env, tmp_path, timeout=60)
    assert result.returncode != 0
    assert "does not answer" in result.stdout + result.stderr


def test_migrate_brings_an_empty_embedded_database_to_head(tmp_path: Path) -> None:
    result = run_command(["migrate"], command_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database is at the latest migration"
    with sqlite3.connect(tmp_path / "watchparty.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    result = run_command(["export-schema", "-"], command_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == export_sdl()
    result = run_command(["export-schema", "out.graphql"], command_env(tmp_path), tmp_path)
    assert result.returncode == 0
    assert (tmp_path / "out.graphql").read_text() == export_sdl()


DEMO_PARTY = """{ myParties(first: 5) { edges { node {
    title status memberCount myMembership { role }
    queue { title } playback { state item { title } }
} } } }"""


DEMO_SOCIAL = """query($id: ID!) { party(id: $id) {
    queue { id title videoId }
    messages(last: 50) { pageInfo { hasNextPage } edges { node {
        author { displayName } body clientId deleted hidden replyTo { clientId body }
        reactions { emoji count reactedByMe }
    } } }
    polls(first: 10) { totalCount edges { node {
        question status allowsMultiple closesAt createdBy { displayName }
        totalVoters totalVotes options { text votes }
    } } }
    reactionStats {
        total byEmoji { emoji count } hotSpots { itemId positionSeconds count topEmoji }
    }
} }"""

# The demo chat, oldest first: (clientId, author, body).
DEMO_CHAT = [
    ("seed-demo-01", "Alice", "Welcome to demo night! First up: Big Buck Bunny."),
    ("seed-demo-02", "Bob", "Popcorn ready 🍿"),
    ("seed-demo-03", "Carol", "Hi all! First time here: how do we stay in sync?"),
    ("seed-demo-04", "Alice", "Nothing to do: everyone's player follows the party's."),
    ("seed-demo-05", "Carol", "Oh nice, it jumped right to where you are."),
    ("seed-demo-06", "Bob", "That bunny is enormous."),
    ("seed-demo-07", "Carol", "Those three rodents are up to no good."),
    ("seed-demo-08", "Alice", "Wait for the butterfly scene."),
    ("seed-demo-09", "Bob", "The animation still holds up, and it is from 2008!"),
    ("seed-demo-10", "Carol", "Made by the Blender Foundation, right?"),
    ("seed-demo-11", "Alice", "Yes: all three films tonight are open movies."),
    ("seed-demo-12", "Bob", "Vote in the poll for our next movie night!"),
]


async def login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"input": {"email": email, "password": DEMO_PASSWORD}}},
    )
    payload: dict[str, Any] = response.json()["data"]["login"]
    assert payload["__typename"] == "AuthPayload", payload
    return payload


DEMO_FEED = "{ notifications(first: 20) { edges { node { kind title actionPath } } } }"


async def demo_feed(client: httpx.AsyncClient, token: str) -> list[tuple[str, str, str]]:
    """(kind, title, actionPath without the message id), newest first."""
    response = await client.post(
        "/graphql", json={"query": DEMO_FEED}, headers={"authorization": f"Bearer {token}"}
    )
    nodes = [edge["node"] for edge in response.json()["data"]["notifications"]["edges"]]
    return [
        (n["kind"], n["title"], n["actionPath"].split("=")[0] + "=" * ("=" in n["actionPath"]))
        for n in nodes
    ]


def expected_messages() -> list[dict[str, Any]]:
    """What Alice sees in the demo chat, newest first."""
    bodies = {client_id: body for client_id, _, body in DEMO_CHAT}
    reply_to = {"seed-demo-04": "seed-demo-03"}
    reactions = {
        "seed-demo-04": [{"emoji": "👍", "count": 1, "reactedByMe": False}],  # Carol's
        "seed-demo-06": [{"emoji": "😂", "count": 1, "reactedByMe": True}],  # Alice's
    }
    return [
        {
            "author": {"displayName": f"{name} (demo)"},
            "body": body,
            "clientId": client_id,
            "deleted": False,
            "hidden": False,
            "replyTo": None
            if client_id not in reply_to
            else {"clientId": reply_to[client_id], "body": bodies[reply_to[client_id]]},
            "reactions": reactions.get(client_id, []),
        }
        for client_id, name, body in reversed(DEMO_CHAT)
    ]


DEMO_SAMPLE = """query($id: ID!) { video(id: $id) {
    title status visibility owner { displayName } durationSeconds renditions { height } hlsUrl
} }"""


@asynccontextmanager
async def demo_env(tmp_path: Path, backend: str) -> AsyncIterator[dict[str, str]]:
    """The environment of the seed-demo commands: embedded, or a database of its own on
    PostgreSQL with Redis (a key prefix of its own)."""
    if backend == "embedded":
        yield command_env(tmp_path)
        return
    async with scratch_database() as url:
        prefix = f"wpseed-{uuid.uuid4().hex[:8]}:"
        yield command_env(tmp_path, DATABASE_URL=url, REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=prefix)


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
async def test_seed_demo_is_idempotent_and_its_users_sign_in(tmp_path: Path, backend: str) -> None:
    async with demo_env(tmp_path, backend) as env:
        await check_seed_demo(tmp_path, env)


async def check_seed_demo(tmp_path: Path, env: dict[str, str]) -> None:
    first = run_command(["seed-demo"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "demo users (password: watchparty-demo):"
    lines = first.stdout.splitlines()
    assert [line.split() for line in lines[1:4]] == [
        ["alice@demo.example.com", "created"],
        ["bob@demo.example.com", "created"],
        ["carol@demo.example.com", "created"],
    ]
    assert lines[4].startswith("demo party: Demo night: open movies (code ")
    assert lines[5].startswith("demo sample video: ")
    assert lines[5].endswith(" (in the demo party's queue)")
    again = run_command(["seed-demo"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert [line.split()[1:] for line in again.stdout.splitlines()[1:4]] == [
        ["already", "there"]
    ] * 3
    assert again.stdout.splitlines()[4] == lines[4]  # the same party, not a second one

    async with served(env, tmp_path) as server, httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": LOGIN,
                "variables": {
                    "input": {"email": "bob@demo.example.com", "password": "watchparty-demo"}
                },
            },
        )
        payload = response.json()["data"]["login"]
        assert payload["__typename"] == "AuthPayload"
        assert payload["user"] == {
            "email": "bob@demo.example.com",
            "displayName": "Bob (demo)",
            "emailVerified": True,
        }
        me = await client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"authorization": f"Bearer {payload['accessToken']}"},
        )
        assert me.json() == {"data": {"me": {"email": "bob@demo.example.com"}}}
        parties = await client.post(
            "/graphql",
            json={"query": DEMO_PARTY},
            headers={"authorization": f"Bearer {payload['accessToken']}"},
        )
        party = parties.json()["data"]["myParties"]["edges"][0]["node"]
        assert party["title"] == "Demo night: open movies"
        assert party["status"] == "LIVE"
        assert party["memberCount"] == 3
        assert party["myMembership"]["role"] == "COHOST"
        assert [item["title"] for item in party["queue"]] == [
            "Big Buck Bunny",
            "Sintel (trailer)",
            "Elephants Dream",
            "Demo sample (test pattern)",
        ]
        assert party["playback"]["state"] == "PAUSED"
        assert party["playback"]["item"]["title"] == "Big Buck Bunny"

        # Chat, the poll and the live reactions, once each although seeded twice (as Alice).
        alice = await login(client, "alice@demo.example.com")
        party_id = lines[4].rsplit("id ", 1)[1].rstrip(")")
        social = await client.post(
            "/graphql",
            json={"query": DEMO_SOCIAL, "variables": {"id": party_id}},
            headers={"authorization": f"Bearer {alice['accessToken']}"},
        )
        demo = social.json()["data"]["party"]
        messages = demo["messages"]
        assert messages["pageInfo"]["hasNextPage"] is False
        assert [edge["node"] for edge in messages["edges"]] == expected_messages()
        assert demo["polls"] == {
            "totalCount": 1,
            "edges": [
                {
                    "node": {
                        "question": "Which open movie next time?",
                        "status": "OPEN",
                        "allowsMultiple": False,
                        "closesAt": None,
                        "createdBy": {"displayName": "Alice (demo)"},
                        "totalVoters": 2,
                        "totalVotes": 2,
                        "options": [
                            {"text": "Tears of Steel", "votes": 1},
                            {"text": "Cosmos Laundromat", "votes": 0},
                            {"text": "Spring", "votes": 1},
                        ],
                    }
                }
            ],
        }
        first_item = demo["queue"][0]
        assert first_item["title"] == "Big Buck Bunny"
        stats = demo["reactionStats"]
        assert stats["total"] == 7
        assert stats["byEmoji"] == [
            {"emoji": "😮", "count": 2},
            {"emoji": "🔥", "count": 2},
            {"emoji": "😂", "count": 1},
            {"emoji": "👏", "count": 1},
            {"emoji": "🍿", "count": 1},
        ]
        spot = {"itemId": first_item["id"], "positionSeconds": 10.0}
        assert stats["hotSpots"] == [
            {**spot, "count": 3, "topEmoji": "🔥"},
            {**spot, "positionSeconds": 60.0, "count": 2, "topEmoji": "😮"},
            {**spot, "positionSeconds": 0.0, "count": 1, "topEmoji": "🍿"},
            {**spot, "positionSeconds": 590.0, "count": 1, "topEmoji": "👏"},
        ]

        # Alice's processed sample video, queued once although seeded twice, and playable.
        library = [item for item in demo["queue"] if item["videoId"] is not None]
        assert [item["title"] for item in library] == ["Demo sample (test pattern)"]
        sample = await client.post(
            "/graphql",
            json={"query": DEMO_SAMPLE, "variables": {"id": library[0]["videoId"]}},
            headers={"authorization": f"Bearer {alice['accessToken']}"},
        )
        video = sample.json()["data"]["video"]
        hls_url = video.pop("hlsUrl")
        assert video == {
            "title": "Demo sample (test pattern)",
            "status": "READY",
            "visibility": "UNLISTED",
            "owner": {"displayName": "Alice (demo)"},
            "durationSeconds": pytest.approx(10.0, abs=0.1),  # AAC priming may add a few ms
            "renditions": [{"height": 240}, {"height": 360}],
        }
        master = await client.get(urlsplit(hls_url).path)
        assert master.status_code == 200
        assert master.text.startswith("#EXTM3U")

        # Notifications: an invitation, a reply, a poll and the video ready, once each.
        carol = await login(client, "carol@demo.example.com")
        feeds = {
            name: await demo_feed(client, token)
            for name, token in (
                ("alice", alice["accessToken"]),
                ("bob", payload["accessToken"]),
                ("carol", carol["accessToken"]),
            )
        }
        invite = ("PARTY_INVITE", "Alice (demo) invited you to Demo night: open movies")
        poll = ("POLL_OPENED", "New poll in Demo night: open movies")
        assert feeds == {
            "alice": [("VIDEO_READY", "Your video is ready", f"/videos/{library[0]['videoId']}")],
            "bob": [(*invite, f"/parties/{party_id}"), (*poll, f"/parties/{party_id}")],
            "carol": [
                (*invite, f"/parties/{party_id}"),
                (*poll, f"/parties/{party_id}"),
                ("REPLY", "Alice (demo) replied to you", f"/parties/{party_id}?message="),
            ],
        }


def test_seed_demo_without_ffmpeg_succeeds_without_the_sample_video(tmp_path: Path) -> None:
    result = run_command(["seed-demo"], command_env(tmp_path, FFMPEG_PATH="no-ffmpeg"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[4].startswith("demo party: Demo night: open movies (code ")
    assert len(result.stdout.splitlines()) == 5  # no sample video line
    assert (
        "note: no-ffmpeg not found; the demo party has no sample video "
        "(run seed-demo again to retry)."
    ) in result.stderr.splitlines()


def test_seed_demo_refuses_production(tmp_path: Path, pg_url: str) -> None:
    env = command_env(
        tmp_path,
        APP_ENV="production",
        JWT_KEYS=STRONG_KEYS,
        JWT_ACTIVE_KID="k1",
        REDIS_URL=REDIS_URL,
        PUBLIC_URL="https://watchparty.example",
        DATABASE_URL=pg_url,
    )
    result = run_command(["seed-demo"], env, tmp_path)
    assert result.returncode == 2
    assert "refuses to run with APP_ENV=production" in result.stderr


async def test_worker_command_runs_jobs_from_redis(tmp_path: Path, pg_url: str) -> None:
    prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    outbox = tmp_path / "outbox"
    env = command_env(
        tmp_path,
        DATABASE_URL=pg_url,
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=prefix,
        EMAIL_OUTBOX_DIR=str(outbox),
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            [*watchparty_command(), "worker"],
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        redis_key_prefix=prefix,
        email_outbox_dir=outbox,
    )
    try:
        async with build_state(
            settings, functions=job_functions(), periodics=periodic_jobs()
        ) as state:
            body = "your one-time code is secret-7f3a"
            assert await state.jobs.enqueue(
                "send_email",
                job_id="cli-worker",
                to="w@example.com",
                subject="Hi",
                body=body,
                kind="test",
            )
            for _ in range(300):
                sent = list(outbox.glob("*.json"))
                if sent or worker.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            assert [json.loads(p.read_text())["body"] for p in sent] == [body], log_path.read_text()
            assert state.redis is not None
            async for key in state.redis.scan_iter(match=f"*{prefix}*"):
                await state.redis.delete(key)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    log = log_path.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"msg": "job done", "job": "send_email"}.items() <= next(
        line for line in lines if line["msg"] == "job done"
    ).items()
    assert "secret-7f3a" not in log  # job arguments (email bodies with tokens) are not logged
