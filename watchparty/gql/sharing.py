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

The decision is made per type of stream item: for a `PartyEvent` whose `event` is a
PlaybackChanged, a fragment `... on PartySnapshot { ... }` is never executed, so it does not
count (`SharedEventExecutor.key_for`, cached per subscription and union member). A frontend's
selection, whose snapshot fragment reads per-viewer fields, is shared for every other event.
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
    is_abstract_type,
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
    concrete: GraphQLObjectType | None = None,
    runtime: dict[str, str] | None = None,
    below: dict[str, str] | None = None,
) -> bool:
    """Whether `selection_set` on `parent` reads only fields declared shared.

    `concrete`: the object type the value at hand is known to have (its field is abstract):
    fragments that cannot apply to it are skipped, as execution skips them. `runtime`: for the
    fields of `parent` whose type is abstract, the object type of the value at hand; `below`:
    the same for the fields of the values of this level's fields (the root's: the stream item).
    """
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
                known = None
                if runtime is not None and is_abstract_type(child) and name in runtime:
                    found = schema.get_type(runtime[name])
                    if isinstance(found, GraphQLObjectType) and schema.is_sub_type(
                        child,  # type: ignore[arg-type]
                        found,
                    ):
                        known = found
                if not _same_for_every_viewer(
                    schema,
                    allowed,
                    child,
                    selection.selection_set,
                    fragments,
                    seen,
                    known,
                    runtime=below,
                ):
                    return False
            continue
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = schema.get_type(condition.name.value) if condition else parent
            body = selection.selection_set
            inner = seen
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return False
            target = schema.get_type(fragment.type_condition.name.value)
            body = fragment.selection_set
            inner = seen | {name}
        else:  # pragma: no cover - graphql-core has no other selection kind
            return False
        if concrete is not None and target is not None:
            if not _applies(schema, target, concrete):
                continue  # never read for the value at hand
            target = concrete  # its fields resolve on the concrete object
        if not _same_for_every_viewer(
            schema, allowed, target, body, fragments, inner, concrete, runtime, below
        ):
            return False
    return True


def _applies(
    schema: GraphQLSchema, condition: GraphQLNamedType, concrete: GraphQLObjectType
) -> bool:
    """Whether a fragment on `condition` applies to a value of object type `concrete`."""
    if is_abstract_type(condition):
        return schema.is_sub_type(condition, concrete)  # type: ignore[arg-type]
    return condition is concrete


def _abstract_fields(root: GraphQLNamedType | None) -> tuple[tuple[str, str], ...]:
    """(GraphQL name, Python name) of the stream item type's fields whose type is abstract
    (`PartyEvent.event`): the values whose object type decides what a selection reads."""
    if not isinstance(root, GraphQLObjectType):
        return ()
    found = []
    for name, field in root.fields.items():
        if not is_abstract_type(get_named_type(field.type)):
            continue
        definition = field.extensions.get("strawberry-definition")
        if definition is not None:
            found.append((name, definition.python_name))
    return tuple(found)


def share_key(
    executor: StrawberryGraphQLCoreExecutionContext, runtime: dict[str, str] | None = None
) -> Any:
    """(document, operation, variables) when the selection is the same for every viewer, for
    a stream item whose abstract fields hold values of the object types `runtime` names."""
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
        below=runtime,
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

    _key: Any = None  # the event's share key (on the per-event copies)
    # Per subscription: the share key per shape of stream item (the Python classes of the values
    # of its abstract fields: a selection may be shared for one union member and not another).
    _keys: dict[tuple[type, ...], Any] | None = None
    _fields: tuple[tuple[str, str], ...] | None = None  # `_abstract_fields` of the item type

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._keys is None:
            self._keys = {}
            slot = current_slot.get()
            if slot is not None:  # the stream may now write shared frames directly
                slot.keyer = self.key_for
        executor = super().build_per_event_executor(payload)
        executor._key = self.key_for(payload)  # type: ignore[attr-defined]
        return executor

    def key_for(self, payload: Any) -> Any:
        """The share key of this subscription for the stream item `payload` (called for every
        subscriber and event by the channel reader: a tuple of classes and one dict lookup)."""
        keys = self._keys
        if keys is None:
            keys = self._keys = {}
        fields = self._fields
        if fields is None:
            fields = self._fields = _abstract_fields(self._item_type())
        shape = tuple([type(getattr(payload, python_name, None)) for _, python_name in fields])
        key = keys.get(shape)
        if key is None:
            runtime = {}
            for (name, _), cls in zip(fields, shape, strict=True):
                member = getattr(cls, "__strawberry_definition__", None)
                if member is not None:
                    runtime[name] = member.name
            key = keys[shape] = share_key(self, runtime)
        return key

    def _item_type(self) -> GraphQLNamedType | None:
        """The type of the stream's items (the subscription field's)."""
        root = self.schema.subscription_type
        selections = self.operation.selection_set.selections
        if root is None or len(selections) != 1 or not isinstance(selections[0], FieldNode):
            return None
        field = root.fields.get(selections[0].name.value)
        return None if field is None else get_named_type(field.type)

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
