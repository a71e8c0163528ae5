"""Per-field HTTP cache hints, and an operation's policy derived from them.

A root `Query` field whose answer is the same for every viewer declares it next to itself::

    @strawberry.field(description=..., metadata=public_cache(max_age=300))
    def plans(self, info: Info) -> list[Plan]: ...

The hint covers the field's whole subtree (its types must not depend on the viewer). An
operation's policy is the most restrictive of its root fields (fragments included): public with
the smallest `max_age` when every field is hinted, otherwise private. `__typename` alone is
public. The view (`gql.view`) turns the policy into `Cache-Control` for `GET /graphql`; an
authenticated request is always private, and a response with errors is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

CACHE_METADATA_KEY = "watchparty.cache"


@dataclass(frozen=True, slots=True)
class PublicCache:
    max_age: int  # seconds a shared cache may reuse the answer


def public_cache(max_age: int) -> dict[str, Any]:
    """`metadata=` for a root Query field whose answer is the same for everybody."""
    return {CACHE_METADATA_KEY: PublicCache(max_age)}


def _hint(schema: GraphQLSchema, name: str) -> PublicCache | None:
    query = schema.query_type
    field = None if query is None else query.fields.get(name)
    definition = None if field is None else (field.extensions or {}).get("strawberry-definition")
    hint = (getattr(definition, "metadata", None) or {}).get(CACHE_METADATA_KEY)
    return hint if isinstance(hint, PublicCache) else None


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> list[str]:
    names: list[str] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names += _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                names += _root_fields(fragments[name].selection_set, fragments, seen)
    return names


def operation_policy(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> PublicCache | None:
    """The public policy of the operation run, or None (private)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if len(chosen) != 1 or chosen[0].operation.value != "query":
        return None
    max_age: int | None = None
    for name in _root_fields(chosen[0].selection_set, fragments, set()):
        if name == "__typename":
            continue
        hint = _hint(schema, name)
        if hint is None:
            return None
        max_age = hint.max_age if max_age is None else min(max_age, hint.max_age)
    return PublicCache(60 if max_age is None else max_age)


# Configuration and catalogues change with a deploy: five minutes of staleness is fine.
CONFIG_MAX_AGE = 300
