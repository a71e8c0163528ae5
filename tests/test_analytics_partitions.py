"""Day partitions of `analytics_events` (PostgreSQL): created ahead, dropped after the retention,
and created on demand by the write paths when the job missed a day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.analytics_ingest_ops import event, stored, track
from tests.support import Api, make_settings, running_app
from watchparty.analytics.partitions import existing_partitions, maintain, partition_name


async def partitions(api: Api) -> list[date]:
    async with api.state.engine.connect() as conn:
        return await existing_partitions(conn)


async def drop(api: Api, day: date) -> None:
    async with api.state.engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))


async def test_ahead_and_retention(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path_factory.mktemp("partitions"),
        analytics_retention_days=30,
        analytics_partitions_ahead=10,
    )
    async with running_app(settings, worker=False) as api:
        today = datetime.now(UTC).date()
        old = today - timedelta(days=40)
        async with api.state.engine.begin() as conn:
            await conn.execute(
                text(
                    f"CREATE TABLE {partition_name(old)} PARTITION OF analytics_events "
                    f"FOR VALUES FROM ('{old}') TO ('{old + timedelta(days=1)}')"
                )
            )
        days, dropped = await maintain(api.state)
        assert dropped == 1
        assert old not in days
        assert {today + timedelta(days=n) for n in range(-1, 11)} <= set(days)
        assert (await maintain(api.state))[1] == 0  # idempotent


async def test_missing_partition_is_created_on_demand(api: Api) -> None:
    today = datetime.now(UTC).date()
    await drop(api, today)
    assert today not in await partitions(api)
    one = event()
    assert (await track(api, [one]))["accepted"] == 1  # the stream, then the drain's COPY
    assert len(await stored(api, [one["id"]])) == 1
    assert today in await partitions(api)


async def test_embedded_retention_deletes_rows(api_embedded: Api) -> None:
    old = event(occurredAtMs=(datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
    assert (await track(api_embedded, [old]))["accepted"] == 1
    future = datetime.now(UTC).date() + timedelta(
        days=api_embedded.settings.analytics_retention_days + 1
    )
    _, deleted = await maintain(api_embedded.state, today=future)
    assert deleted >= 1
    assert await stored(api_embedded, [old["id"]], timeout=0) == []
