"""Search while Typesense is frozen (SIGSTOP) or dead (SIGKILL): the database answers, nothing
indexed while it was away is lost (the outbox keeps it), and the index catches up when it
returns. A Typesense server of this module's own (it is killed and frozen here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.parties_ops import person
from tests.search_support import indexed, party, search, titles, typesense_app, typo, word
from tests.support import Api
from tests.typesense_server import TypesenseServer
from watchparty.search.indexing import status


@pytest.fixture(scope="module")
async def own_typesense() -> AsyncIterator[TypesenseServer]:
    server = TypesenseServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.cleanup()


@pytest.fixture(scope="module")
async def api_fragile(
    own_typesense: TypesenseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    async with typesense_app(
        own_typesense,
        tmp_path_factory.mktemp("fragile"),
        typesense_timeout_seconds=0.5,
        typesense_cooldown_seconds=0.2,
    ) as api:
        yield api


async def test_frozen_typesense_answers_from_the_database_and_catches_up(
    api_fragile: Api, own_typesense: TypesenseServer
) -> None:
    api = api_fragile
    host = await person(api, "Host")
    key = word(11)
    await party(api, host, f"{key} before")
    await indexed(api)
    assert (await search(api, key))["source"] == "TYPESENSE"

    own_typesense.freeze()
    try:
        started = time.monotonic()
        answer = await search(api, key)
        assert answer["source"] == "DATABASE"
        assert titles(answer) == [f"{key} before"]
        assert time.monotonic() - started < 3
        # PostgreSQL's fallback is typo-tolerant too (pg_trgm)
        assert titles(await search(api, typo(key))) == [f"{key} before"]
        # highlights come from the fallback as well
        assert answer["edges"][0]["highlights"][0]["snippet"].startswith(f"<mark>{key}</mark>")

        await party(api, host, f"{key} during")
        await indexed(api)  # Typesense does not answer: the rows stay
        report = await status(api.state)
        assert report["outbox_depth"] >= 1
    finally:
        own_typesense.thaw()

    await _until_typesense(api, key)
    await indexed(api)
    report = await status(api.state)
    assert report["outbox_depth"] == 0
    answer = await search(api, key, sort="NEWEST")
    assert answer["source"] == "TYPESENSE"
    assert titles(answer) == [f"{key} during", f"{key} before"]


async def test_killed_typesense_loses_nothing(
    api_fragile: Api, own_typesense: TypesenseServer
) -> None:
    api = api_fragile
    host = await person(api, "Host")
    key = word(11)
    await own_typesense.stop()  # SIGKILL
    try:
        await party(api, host, f"{key} while down")
        await indexed(api)
        answer = await search(api, key)
        assert answer["source"] == "DATABASE"
        assert titles(answer) == [f"{key} while down"]
        assert (await status(api.state))["outbox_depth"] >= 1
    finally:
        await own_typesense.start()  # same port, same data directory

    await _until_typesense(api, key)
    await indexed(api)
    answer = await search(api, key)
    assert answer["source"] == "TYPESENSE"
    assert titles(answer) == [f"{key} while down"]


async def _until_typesense(api: Api, key: str) -> None:
    """Past the breaker's cool-down, search asks Typesense again."""
    import asyncio

    for _ in range(100):
        if (await search(api, key))["source"] == "TYPESENSE":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("search never went back to Typesense")
