"""Shared by the search tests: an app on its own PostgreSQL database wired to a Typesense
server, GraphQL documents, and helpers that make parties, videos and people to find."""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select

from tests.parties_ops import Person, create_party
from tests.support import PG_ADMIN_URL, Api, make_settings, running_app
from tests.typesense_server import TypesenseServer
from tests.videos_ops import video_mutate
from watchparty.migrations import upgrade_to_head
from watchparty.search.indexing import drain_all
from watchparty.search.models import SearchOutbox

SEARCH = """query($q: String!, $types: [SearchType!], $filters: SearchFilters, $sort: SearchSort,
    $first: Int, $after: String) {
  search(query: $q, types: $types, filters: $filters, sort: $sort, first: $first, after: $after) {
    totalCount source
    pageInfo { hasNextPage endCursor }
    facets { field counts { value count } }
    edges { cursor highlights { field snippet }
      node { __typename ... on Party { id title } ... on Video { id title }
        ... on User { id displayName } }
    }
  }
}"""


def word(length: int = 9) -> str:
    """A made-up word no other test uses."""
    return "".join(random.choices(string.ascii_lowercase, k=length))


def typo(text: str) -> str:
    """One letter in the middle replaced."""
    middle = len(text) // 2
    replacement = "x" if text[middle] != "x" else "y"
    return text[:middle] + replacement + text[middle + 1 :]


async def search(api: Api, q: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    result = await api.gql(SEARCH, {"q": q, **variables}, token=token)
    data: dict[str, Any] = result.data["search"]
    return data


def titles(answer: dict[str, Any]) -> list[str]:
    return [e["node"].get("title") or e["node"].get("displayName") for e in answer["edges"]]


async def indexed(api: Api) -> None:
    """One indexing cycle: the outbox drained (what the 5 s job does). The worker's own drain
    may hold some rows (SKIP LOCKED) while this one runs: wait until it is done with them. Rows
    nobody holds stay when Typesense does not answer (the reliability tests want that)."""
    await api.drain_jobs()
    for _ in range(200):
        await drain_all(api.state)
        async with api.state.sessionmaker() as session:
            total = await session.scalar(select(func.count()).select_from(SearchOutbox))
            free = len(
                list(
                    await session.scalars(select(SearchOutbox.id).with_for_update(skip_locked=True))
                )
            )
            await session.rollback()
        if free == total:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("another drain held search outbox rows for 10 s")


async def public_video(api: Api, owner: Person, title: str, visibility: str = "PUBLIC") -> str:
    added = await api.gql(
        """mutation($input: AddExternalVideoInput!) { addExternalVideo(input: $input) {
            __typename ... on VideoPayload { video { id } } } }""",
        {"input": {"url": f"https://cdn.example.com/{uuid.uuid4().hex}.mp4"}},
        token=owner.token,
    )
    video_id: str = added.data["addExternalVideo"]["video"]["id"]
    updated = await video_mutate(
        api, "updateVideo", owner.token, id=video_id, title=title, visibility=visibility
    )
    assert updated["__typename"] == "VideoPayload", updated
    return video_id


async def party(api: Api, host: Person, title: str, **input: Any) -> dict[str, Any]:
    return await create_party(api, host, title=title, **input)


@asynccontextmanager
async def typesense_app(server: TypesenseServer, tmp: Path, **overrides: Any) -> AsyncIterator[Api]:
    """The production stack (PostgreSQL of its own, Redis, an ARQ worker) searching `server`
    under a collection prefix of its own."""
    name = f"wp_search_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    try:
        await upgrade_to_head(url)
        settings = make_settings(
            "postgres",
            database_url=url,
            tmp=tmp,
            typesense_url=server.url,
            typesense_api_key=server.api_key,
            typesense_collection_prefix=f"t{uuid.uuid4().hex[:8]}_",
            **overrides,
        )
        async with running_app(settings) as api:
            yield api
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
