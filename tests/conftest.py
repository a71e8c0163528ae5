"""Shared fixtures. PostgreSQL and Redis are required: unreachable means failure, never skip."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.redis_server import RedisServer
from tests.stripe_standin import StripeStandIn
from tests.support import PG_ADMIN_URL, REDIS_URL, Api, make_settings, running_app
from tests.typesense_server import TypesenseServer
from watchparty.migrations import upgrade_to_head


async def _check_services() -> None:
    try:
        connection = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), 5)
        await connection.close()
    except Exception as exc:
        pytest.exit(f"PostgreSQL at {PG_ADMIN_URL} does not answer: {exc!r}", returncode=3)
    try:
        redis = Redis.from_url(REDIS_URL)
        await asyncio.wait_for(redis.ping(), 5)
        await redis.aclose()
    except Exception as exc:
        pytest.exit(f"Redis at {REDIS_URL} does not answer: {exc!r}", returncode=3)


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head by Alembic."""
    await _check_services()
    name = f"wp_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    try:
        await upgrade_to_head(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def api(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The production stack: PostgreSQL, Redis broadcast and limits, a real ARQ worker."""
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path_factory.mktemp("pg"))
    async with running_app(settings) as client:
        yield client


@pytest.fixture(scope="session")
async def api_embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The embedded stack: SQLite migrated on start, memory broadcast, in-process jobs."""
    settings = make_settings("embedded", database_url="", tmp=tmp_path_factory.mktemp("embedded"))
    async with running_app(settings) as client:
        yield client


@pytest.fixture(params=["postgres", "embedded"])
def any_api(request: pytest.FixtureRequest) -> Api:
    """Core flows run on both stacks."""
    fixture = "api" if request.param == "postgres" else "api_embedded"
    result: Api = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (fault tests kill, restart and freeze it)."""
    server = RedisServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StripeStandIn]:
    """The loopback Stripe API (tests/stripe_standin.py), shared by the billing tests."""
    standin = StripeStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="session")
async def typesense() -> AsyncIterator[TypesenseServer]:
    """The real Typesense server for this test run (tests/typesense_server.py)."""
    server = TypesenseServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.cleanup()
