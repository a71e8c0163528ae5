"""Executing a stream event once per selection, with what may be shared declared on the types.

GraphQL executes a subscription's selection for every subscriber and every event: for a party of
a thousand members, a thousand executions (and the database reads of loader-backed fields) of
the same selection over the same object. `SharedEventExecutor` executes it once per event and
distinct (document, operation, variables) and hands the result to every local subscriber, when
the selection reads only fields whose value is the same for every viewer allowed to follow.

Which fields those are is declared next to the fields, on the Strawberry class that defines
them::

    @same_for_every_viewer("user", "role", "status")   # the others depend on the viewer
    @strawberry.type
    class PartyMember: ...

    @same_for_every_viewer()                           # every field of the class
    @strawberry.type
    class PlaybackState: ...

An undeclared field (one added later, a field another domain contributes to a type, the
viewer's own membership) makes the selection execute per subscriber, as GraphQL normally does:
forgetting a declaration costs speed, never another viewer's data. The allow-list is derived
from the schema the first time it is needed (`shared_fields`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from watchparty.gql.frames import NOT_SHARED, current_slot

C = TypeVar("C", bound=type)

SHARED_ATTRIBUTE = "__same_for_every_viewer__"
MAX_SHARED_SELECTIONS = 16  # distinct selections kept per event


def same_for_every_viewer(*python_names: str) -> Callable[[C], C]:
    """Declare the fields (Python names) of this class whose value is the same for every viewer
    of a stream event; no names: all of its fields."""

    def declare(cls: C) -> C:
        setattr(cls, SHARED_ATTRIBUTE, frozenset(python_names) if python_names else None)
        return cls

    return declare


def _declared(origin: type | None, python_name: str) -> bool:
    if origin is None or SHARED_ATTRIBUTE not in vars(origin):
        return False
    names = vars(origin)[SHARED_ATTRIBUTE]
    return names is None or python_name in names


_derived: dict[int, dict[str, frozenset[str]]] = {}


def shared_fields(schema: GraphQLSchema) -> dict[str, frozenset[str]]:
    """Object type name -> GraphQL names of its fields declared shared (derived once)."""
    found = _derived.get(id(schema))
    if found is not None:
        return found
    found = {}
    for name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        allowed = set()
        for field_name, field in graphql_type.fields.items():
            strawberry_field = field.extensions.get("strawberry-definition")
            if strawberry_field is None:
                continue
            if _declared(strawberry_field.origin, strawberry_field.python_name):
                allowed.add(field_name)
        if allowed:
            found[name] = frozenset(allowed)
    _derived[id(schema)] = found
    return found


def _same_for_every_viewer(
    schema: GraphQLSchema,
    allowed: dict[str, frozenset[str]],
    parent: GraphQLNamedType | None,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> bool:
    if parent is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name == "__typename":
                continue
            if name not in allowed.get(parent.name, ()):
                return False
            if selection.selection_set is not None:
                assert isinstance(parent, GraphQLObjectType)  # only object types declare fields
                child = get_named_type(parent.fields[name].type)
                if not _same_for_every_viewer(
                    schema, allowed, child, selection.selection_set, fragments, seen
                ):
                    return False
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = schema.get_type(condition.name.value) if condition else parent
            if not _same_for_every_viewer(
                schema, allowed, target, selection.selection_set, fragments, seen
            ):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return False
            target = schema.get_type(fragment.type_condition.name.value)
            if not _same_for_every_viewer(
                schema, allowed, target, fragment.selection_set, fragments, seen | {name}
            ):
                return False
    return True


def share_key(executor: StrawberryGraphQLCoreExecutionContext) -> Any:
    """(document, operation, variables) when the selection is the same for every viewer."""
    operation = executor.operation
    if operation.operation is not OperationType.SUBSCRIPTION or operation.loc is None:
        return NOT_SHARED
    schema = executor.schema
    if not _same_for_every_viewer(
        schema,
        shared_fields(schema),
        schema.subscription_type,
        operation.selection_set,
        executor.fragment_definitions,
    ):
        return NOT_SHARED
    try:
        variables = json.dumps(executor.variable_values.coerced, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return NOT_SHARED
    name = operation.name.value if operation.name else None
    return (operation.loc.source.body, name, variables)


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """The schema's execution context: stream items carrying `shared_results` (a dict the
    stream's renderer attaches) are executed once per shareable selection and process. Results
    are awaited through `asyncio.shield`, so one subscriber going away never cancels the
    execution the others wait for."""

    _key: Any = None  # computed once per subscription, on the first event

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._key is None:
            self._key = share_key(self)
            slot = current_slot.get()
            if slot is not None:  # the stream may now write shared frames directly
                slot.share_key = self._key
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        results = getattr(self.root_value, "shared_results", None)
        key = self._key
        if results is None or key is None or key is NOT_SHARED:
            return super().execute_operation(serially)
        shared = results.get(key)
        if shared is None:
            outcome = super().execute_operation(serially)
            if not self.is_awaitable(outcome):
                if len(results) < MAX_SHARED_SELECTIONS:
                    results[key] = outcome
                return outcome
            shared = asyncio.ensure_future(outcome)
            if len(results) < MAX_SHARED_SELECTIONS:
                results[key] = shared
        if isinstance(shared, asyncio.Future):
            return asyncio.shield(shared)
        return shared
