"""A query cost limit, checked as a graphql-core validation rule before anything executes.

The model is deliberately simple so a frontend developer can predict it:

- every field costs 1;
- a field that takes a page size (`first` / `last`, i.e. a connection or a paginated list) costs
  1 + page size x the cost of its selection. The page size is the argument's value (literal or
  variable), else the argument's schema default, else `PAGE_CAP`; it is capped at `PAGE_CAP`,
  like the resolvers do;
- a list field without a page size argument is multiplied by `PAGE_CAP` too (pessimistic: it is
  not bounded by the client), except directly inside a connection type (`edges`, `nodes`),
  whose length the connection's own page size already counted;
- a list the schema itself bounds (`BOUNDED_LISTS`: a message's reactions are at most the
  allowed emoji, a poll has at most 10 options) is multiplied by that bound instead; when such a
  list takes a page size (`Party.queue(first)`: at most 200 items, 20 by default), the page size
  is capped at that bound rather than at `PAGE_CAP`;
- introspection fields (`__schema`, `__type`) cost 1 flat: their size is bounded by the schema,
  and introspection is switched off in production;
- fragments are expanded where they are spread; all branches of a union/interface selection
  are summed (an upper bound).

Variables are known at validation time (the rule is built per operation), so
`myParties(first: $n)` is priced with the real `$n`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
)
from graphql.pyutils import Undefined

from watchparty.kit.emoji import ALLOWED_EMOJI
from watchparty.parties.models import QUEUE_MAX_ITEMS
from watchparty.polls.models import MAX_OPTIONS

PAGE_CAP = 100
PAGE_ARGUMENTS = ("first", "last")
COST_ERROR_CODE = "QUERY_COST_EXCEEDED"

# (type, field) -> the most items that list can hold, whatever the client asks.
BOUNDED_LISTS: dict[tuple[str, str], int] = {
    ("ChatMessage", "reactions"): len(ALLOWED_EMOJI),  # one entry per allowed emoji
    ("Party", "queue"): QUEUE_MAX_ITEMS,  # paged: `first` (default 20), capped at this bound
    ("Poll", "options"): MAX_OPTIONS,
    ("ReactionStats", "byEmoji"): len(ALLOWED_EMOJI),
}


def bound_list(type_name: str, field_name: str, bound: int) -> None:
    """Declare a list the schema bounds (a registration: the composition root passes a
    domain's bounds, e.g. billing's `plans`, without the floor importing the domain)."""
    BOUNDED_LISTS[(type_name, field_name)] = bound


def _unwrap(type_: Any) -> tuple[GraphQLNamedType, bool]:
    """The named type under NonNull/List wrappers, and whether a list was among them."""
    is_list = False
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _is_connection(type_: GraphQLNamedType) -> bool:
    return type_.name.endswith("Connection")


class CostCalculator:
    """Walks one operation's selections (AST plus schema types) and adds up the cost."""

    def __init__(
        self,
        context: ValidationContext,
        variables: Mapping[str, Any],
        operation: OperationDefinitionNode,
    ) -> None:
        self.context = context
        self.schema: GraphQLSchema = context.schema
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            default = definition.default_value
            if name not in self.variables and isinstance(default, IntValueNode):
                self.variables[name] = int(default.value)
        self._fragment_costs: dict[tuple[str, str], int] = {}
        self._expanding: set[str] = set()

    def operation_cost(self, operation: OperationDefinitionNode) -> int:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[operation.operation]
        if root is None:
            return 0  # other rules report the unknown operation type
        return self.selection_cost(operation.selection_set, root)

    def selection_cost(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                if target is not None:
                    total += self.selection_cost(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread_cost(selection.name.value)
        return total

    def spread_cost(self, name: str) -> int:
        fragment = self.context.get_fragment(name)
        if fragment is None or name in self._expanding:
            return 0  # unknown fragments and cycles are reported by the standard rules
        target = self.schema.get_type(fragment.type_condition.name.value)
        if target is None:
            return 0
        key = (name, target.name)
        if key not in self._fragment_costs:
            self._expanding.add(name)
            try:
                self._fragment_costs[key] = self.selection_cost(fragment.selection_set, target)
            finally:
                self._expanding.discard(name)
        return self._fragment_costs[key]

    def field_cost(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 1
        if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 1
        field = parent.fields.get(name)
        if field is None:
            return 1  # FieldsOnCorrectTypeRule reports it
        named, is_list = _unwrap(field.type)
        if node.selection_set is None:
            return 1
        multiplier = 1
        bound = BOUNDED_LISTS.get((parent.name, name))
        if any(arg in field.args for arg in PAGE_ARGUMENTS):
            multiplier = self.page_size(node, field.args, PAGE_CAP if bound is None else bound)
        elif is_list and not _is_connection(parent):
            multiplier = PAGE_CAP if bound is None else bound
        return 1 + multiplier * self.selection_cost(node.selection_set, named)

    def page_size(self, node: FieldNode, arguments: Mapping[str, Any], cap: int) -> int:
        given: list[int] = []
        for argument in node.arguments or ():
            if argument.name.value not in PAGE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                given.append(int(value.value))
            elif isinstance(value, VariableNode):
                provided = self.variables.get(value.name.value)
                given.append(provided if isinstance(provided, int) else cap)
        if not given:
            for name in PAGE_ARGUMENTS:
                default = arguments[name].default_value if name in arguments else Undefined
                if isinstance(default, int) and not isinstance(default, bool):
                    given.append(default)
        size = max(given) if given else cap
        return max(0, min(size, cap))


def cost_error(cost: int, limit: int, node: OperationDefinitionNode) -> GraphQLError:
    return GraphQLError(
        f"Query cost {cost} exceeds the limit of {limit}. Ask for smaller pages (first/last) "
        "or fewer nested lists.",
        node,
        extensions={"code": COST_ERROR_CODE, "cost": cost, "maxCost": limit},
    )


def cost_rule(
    max_cost: int, variables: Mapping[str, Any] | None, operation_name: str | None
) -> type[ValidationRule]:
    """A validation rule class bound to this request's variables and chosen operation."""

    class QueryCostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            name = node.name.value if node.name else None
            if operation_name is not None and name != operation_name:
                return  # only the operation that will run is priced
            cost = CostCalculator(self.context, variables or {}, node).operation_cost(node)
            if cost > max_cost:
                self.report_error(cost_error(cost, max_cost, node))

    return QueryCostRule
