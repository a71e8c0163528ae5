"""Alembic migrations agree with the models, and apply (and revert) cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.ops_support import scratch_database
from watchparty.migrations import PARTITION, alembic_config, include_object, upgrade_to_head
from watchparty.models import metadata


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert revision is not None
    return revision


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": connection.dialect.name == "sqlite",
            "include_object": include_object,
        },
    )
    return list(compare_metadata(context, metadata))


def _state(connection: Connection) -> tuple[set[str], list[str]]:
    tables = set(inspect(connection).get_table_names())
    versions = []
    if "alembic_version" in tables:
        versions = [
            row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        ]
    return tables, versions


async def run(url: str, function: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(function)
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_postgres() -> AsyncIterator[str]:
    """A fresh database with nothing in it (scratch_database migrates: revert that first)."""
    async with scratch_database() as url:
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        yield url


async def test_models_and_migrations_agree_on_postgres(empty_postgres: str) -> None:
    assert await run(empty_postgres, _state) == ({"alembic_version"}, [])
    await upgrade_to_head(empty_postgres)
    tables, versions = await run(empty_postgres, _state)
    assert versions == [head()]
    partitions = {t for t in tables if PARTITION.match(t)}
    assert len(partitions) == 9  # analytics_events: yesterday to a week ahead
    assert tables - partitions == {*metadata.tables, "alembic_version"}
    differences = await run(empty_postgres, _differences)
    assert differences == [], "models differ from migrations; add a revision:\n" + "\n".join(
        map(str, differences)
    )


async def test_downgrade_to_base_and_upgrade_again_on_postgres(empty_postgres: str) -> None:
    await upgrade_to_head(empty_postgres)
    await asyncio.to_thread(command.downgrade, alembic_config(empty_postgres), "base")
    assert await run(empty_postgres, _state) == ({"alembic_version"}, [])
    await upgrade_to_head(empty_postgres)
    assert (await run(empty_postgres, _state))[1] == [head()]
    assert await run(empty_postgres, _differences) == []


async def test_upgrade_head_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    await upgrade_to_head(url)
    tables, versions = await run(url, _state)
    assert versions == [head()]
    assert tables == {*metadata.tables, "alembic_version"}
    # Every step reverts on SQLite too (batch mode), so a developer can go back and forth.
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    assert (await run(url, _state))[1] == []
    await upgrade_to_head(url)
    assert (await run(url, _state))[1] == [head()]
