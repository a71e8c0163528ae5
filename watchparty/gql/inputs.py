"""One gate every field argument passes through: text no database or encoder can take.

PostgreSQL refuses NUL in text (`CharacterNotInRepertoireError`) and UTF-8 has no unpaired
surrogate (`"\\ud800"`, which JSON and GraphQL string escapes can both spell); control
characters other than tab and line breaks have no business in titles, messages or tokens
either. Rather than remember them in ~40 inputs, `guard_arguments` wraps, once when the schema is
built, the resolver (and subscription source) of every field that takes arguments: a bad string
anywhere in its arguments, variables and inline literals alike, over HTTP and WebSocket, never
reaches the resolver. A field whose result union offers `ValidationError` answers that member with
the offending `field`; any other field answers a GraphQL error with code `VALIDATION`. Domains
keep their own, wider rules (C1 controls, bidi overrides in names) with their own messages.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    default_field_resolver,
    get_nullable_type,
)

from watchparty.errors import ErrorCode
from watchparty.gql.errors import ValidationError

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # all C0 but tab and line breaks
SURROGATE = re.compile("[\ud800-\udfff]")
CONTROL_MESSAGE = "Control characters are not allowed."  # the domains' own wording
SURROGATE_MESSAGE = "Text must be valid Unicode (an unpaired surrogate is not)."
# JSON cannot carry them, but an inline literal can (`1e999` parses as infinity).
NON_FINITE_MESSAGE = "Numbers must be finite."


def find_bad_text(arguments: dict[str, Any]) -> tuple[str, str] | None:
    """(dotted path, message) for the first string with a forbidden character (or a number that
    is not finite), if any. As in
    our other `field` values, a top-level `input` and list positions are left out
    (`media.title`, `options`); an argument at the top is named as itself."""
    stack: list[tuple[Any, tuple[str, ...]]] = [
        (value, () if name == "input" else (name,)) for name, value in arguments.items()
    ]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return ".".join(path) or "input", NON_FINITE_MESSAGE
        if isinstance(value, str):
            if CONTROL.search(value):
                return ".".join(path) or "input", CONTROL_MESSAGE
            if SURROGATE.search(value):
                return ".".join(path) or "input", SURROGATE_MESSAGE
        elif isinstance(value, dict):
            stack.extend((item, (*path, str(key))) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((item, path) for item in value)
    return None


def _offers_validation_error(output: GraphQLOutputType) -> bool:
    union = get_nullable_type(output)  # type: ignore[call-overload]
    return isinstance(union, GraphQLUnionType) and any(
        member.name == ValidationError.__name__ for member in union.types
    )


def _guarded(fn: Callable[..., Any], as_member: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded(source: Any, info: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
        bad = find_bad_text(arguments) if arguments else None
        if bad is None:
            return fn(source, info, **arguments)
        field, message = bad
        if as_member:
            return ValidationError(
                code=ErrorCode.VALIDATION,  # type: ignore[arg-type]
                message=message,
                field=field,
            )
        raise GraphQLError(
            message,
            path=info.path.as_list(),
            nodes=info.field_nodes,
            extensions={"code": ErrorCode.VALIDATION.value, "field": field},
        )

    guarded.is_guarded = True  # type: ignore[attr-defined]
    return guarded


def guard_arguments(schema: GraphQLSchema) -> None:
    """Wrap the resolvers of every field with arguments (see the module docstring)."""
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            _guard(field)


def _guard(field: GraphQLField) -> None:
    if not field.args or getattr(field.resolve, "is_guarded", False):
        return
    field.resolve = _guarded(
        field.resolve or default_field_resolver, _offers_validation_error(field.type)
    )
    if field.subscribe is not None:
        field.subscribe = _guarded(field.subscribe, False)
