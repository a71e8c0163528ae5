"""A probe schema served through the real `/graphql` view and the real schema extensions.

Some protections need shapes the product schema does not have (yet) or must never have: a
resolver that fails unexpectedly, a subscription that never ends or fails mid-stream, a
connection to price. Rather than adding test-only fields to the production schema, the tests
build this schema with `schema_extensions(settings)` and mount it on a `GraphQLView`, so the
HTTP protocol, WebSocket handling, limits and masking are exactly the production ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import strawberry

from tests.support import Api, live_server, make_settings, running_app
from watchparty.config import Settings
from watchparty.gql.extensions import schema_extensions
from watchparty.gql.view import GraphQLView

SECRET = "secret-internal-detail-7f3a"


@strawberry.type
class PageInfo:
    has_next_page: bool


@strawberry.type
class ItemEdge:
    cursor: str
    node: Item


@strawberry.type
class ItemConnection:
    edges: list[ItemEdge]
    page_info: PageInfo
    total_count: int


def _connection(count: int | None) -> ItemConnection:
    size = min(count if count is not None else 3, 3)
    edges = [
        ItemEdge(cursor=str(i), node=Item(id=strawberry.ID(str(i)), name=f"item {i}"))
        for i in range(size)
    ]
    return ItemConnection(edges=edges, page_info=PageInfo(has_next_page=False), total_count=size)


@strawberry.type
class Item:
    id: strawberry.ID
    name: str

    @strawberry.field
    def children(self, first: int | None = None, after: str | None = None) -> ItemConnection:
        return _connection(first)


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int | None = None, last: int | None = None) -> ItemConnection:
        return _connection(first if first is not None else last)

    @strawberry.field
    def recent(self, first: int = 10) -> list[Item]:
        """A paginated plain list whose page size has a schema default."""
        return [edge.node for edge in _connection(first).edges]

    @strawberry.field
    def related(self) -> list[Item]:
        return [Item(id=strawberry.ID("r"), name="related")]

    @strawberry.field
    def tags(self) -> list[str]:
        return ["a", "b"]

    @strawberry.field
    def ok(self) -> str:
        return "fine"

    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError(SECRET)


@strawberry.type
class Mutation:
    @strawberry.mutation
    def noop(self) -> bool:
        return True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def forever(self) -> AsyncGenerator[int, None]:
        yield 0
        await asyncio.Event().wait()
        yield 1  # pragma: no cover

    @strawberry.subscription
    async def fails_after(self, count: int) -> AsyncGenerator[int, None]:
        for value in range(count):
            yield value
        raise RuntimeError(SECRET)


def probe_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=schema_extensions(settings),  # type: ignore[arg-type]
    )


@asynccontextmanager
async def probe_server(tmp: Path, **overrides: Any) -> AsyncIterator[tuple[Api, str]]:
    """An embedded app whose `/graphql` serves the probe schema; yields (api, base URL)."""
    settings = make_settings("embedded", database_url="", tmp=tmp, **overrides)
    async with running_app(settings) as api:
        api.app.state.graphql = GraphQLView(api.state, schema=probe_schema(settings))
        async with live_server(api.app) as url:
            yield api, url
