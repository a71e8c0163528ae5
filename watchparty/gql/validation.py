"""Validation once per query text, cost per operation.

GraphQL validation is static: the standard rules, the depth limit and the alias limit give the
same verdict for the same document whatever its variables. Running them for every request cost
~4 ms of CPU for a one-line `serverTime` query (most of the request) and ~10 ms for a typical
mutation, and it delays what comes after it (the clock sample's `serverSentMs`, the events a
mutation publishes). So their verdict is kept per (query text, rules) in a bounded LRU shared by
the process, and only the cost rule, which reads the variables (`first: $n`), runs per
operation: one more walk over the document.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import ASTValidationRule, GraphQLError, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from watchparty.gql.cost import cost_rule

VERDICTS_SIZE = 512  # distinct (query text, rules) pairs kept


class Verdicts:
    """A bounded LRU of validation errors by (query text, rules)."""

    def __init__(self, size: int = VERDICTS_SIZE) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Any, list[GraphQLError]] = OrderedDict()

    def get(self, key: Any) -> list[GraphQLError] | None:
        errors = self._entries.get(key)
        if errors is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return errors

    def put(self, key: Any, errors: list[GraphQLError]) -> None:
        self._entries[key] = errors
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class CachedValidation(SchemaExtension):
    """Validates with the operation's rules plus `rules`, reusing the verdict for a query text
    seen before; then prices the operation (`max_cost`). Afterwards the operation forgets its
    rules: a subscription keeps its execution context for as long as it runs."""

    def __init__(
        self, rules: Sequence[type[ASTValidationRule]], max_cost: int, verdicts: Verdicts
    ) -> None:
        self.rules = tuple(rules)
        self.max_cost = max_cost
        self.verdicts = verdicts

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and ctx.pre_execution_errors is None and ctx.validation_rules:
            schema = ctx.schema._schema
            rules = (*ctx.validation_rules, *self.rules)
            key = (ctx.query, rules) if ctx.query is not None else None
            errors = None if key is None else self.verdicts.get(key)
            if errors is None:
                errors = validate_document(schema, document, rules)
                if key is not None:
                    self.verdicts.put(key, errors)
            if not errors:
                variables = ctx.variables if isinstance(ctx.variables, dict) else None
                errors = validate(
                    schema, document, [cost_rule(self.max_cost, variables, ctx.operation_name)]
                )
            ctx.pre_execution_errors = list(errors)
        yield
        ctx.validation_rules = ()
