"""The `watchparty` command, run as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.ops_support import command_env, run_command, served, watchparty_command
from tests.support import REDIS_URL, free_port, make_settings
from watchparty.migrations import alembic_config
from watchparty.schema import export_sdl
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


async def test_seed_demo_is_idempotent_and_its_users_sign_in(tmp_path: Path) -> None:
    env = command_env(tmp_path)
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
        ]
        assert party["playback"]["state"] == "PAUSED"
        assert party["playback"]["item"]["title"] == "Big Buck Bunny"


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
        async with build_state(settings) as state:
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
