"""Composes every domain's Query, Mutation and Subscription fields into one schema."""

from __future__ import annotations

import strawberry
from strawberry.extensions import SchemaExtension

from watchparty.accounts.resolvers import AccountMutations, AccountQueries
from watchparty.config import Settings
from watchparty.gql.errors import UserError


@strawberry.type
class Query(AccountQueries):
    pass


@strawberry.type
class Mutation(AccountMutations):
    pass


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    from watchparty.gql.extensions import schema_extensions

    extensions: list[type[SchemaExtension] | object] = (
        schema_extensions(settings) if settings is not None else []
    )
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[UserError],
        extensions=extensions,  # type: ignore[arg-type]
    )


def export_sdl() -> str:
    """The SDL committed as schema.graphql (no runtime extensions affect it)."""
    return build_schema().as_str() + "\n"
