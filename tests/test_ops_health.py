"""/healthz and /readyz on both stacks, and readiness failing when a dependency stops answering."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.ops_support import drop_database, scratch_database
from tests.support import Api, free_port, make_settings, running_app
from watchparty.config import ConfigurationError
from watchparty.http.health import READY_TIMEOUT_SECONDS


async def test_healthz_answers_ok(any_api: Api) -> None:
    response = await any_api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_on_the_production_stack(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_readyz_on_the_embedded_stack(api_embedded: Api) -> None:
    response = await api_embedded.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "embedded"}}


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[str]:
    """A Redis server of this test's own, so it can be paused without disturbing anyone."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (Debian package redis-server)"
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    try:
        for _ in range(200):
            try:
                await client.ping()
                break
            except RedisConnectionError:
                await asyncio.sleep(0.02)
        yield url
    finally:
        await client.aclose()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def scratch_db() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


async def test_readyz_is_503_while_redis_does_not_answer(
    pg_url: str, private_redis: str, tmp_path: Path
) -> None:
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path, redis_url=private_redis)
    async with running_app(settings, worker=False) as app:
        assert (await app.client.get("/readyz")).status_code == 200

        pause_ms = int((READY_TIMEOUT_SECONDS + 1.5) * 1000)
        control = Redis.from_url(private_redis)
        await control.execute_command("CLIENT", "PAUSE", pause_ms, "ALL")
        await control.aclose()
        response = await app.client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "checks": {"database": "ok", "redis": "error: TimeoutError"},
        }

        # Ready again once Redis answers (the pause ends by itself).
        for _ in range(100):
            response = await app.client.get("/readyz")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_is_503_when_the_database_is_gone(scratch_db: str, tmp_path: Path) -> None:
    settings = make_settings("postgres", database_url=scratch_db, tmp=tmp_path)
    async with running_app(settings, worker=False) as app:
        assert (await app.client.get("/readyz")).status_code == 200

        await drop_database(scratch_db)

        response = await app.client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["redis"] == "ok"
        assert body["checks"]["database"].startswith("error: ")


async def test_start_fails_fast_when_redis_does_not_answer(pg_url: str, tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path, redis_url=closed)
    with pytest.raises(ConfigurationError, match=r"Redis at 127\.0\.0\.1:\d+ does not answer"):
        async with running_app(settings, worker=False):
            pass
