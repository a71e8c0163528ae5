"""Schema extensions: fresh DataLoaders per operation, masking, and the protection limits."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)

from watchparty.config import Settings
from watchparty.gql.validation import CachedValidation, Verdicts
from watchparty.logs import request_id_var

log = logging.getLogger("watchparty.graphql")

MASKED_MESSAGE = "Unexpected error."


class FreshLoaders(SchemaExtension):
    """A WebSocket context lives as long as its socket; loaders must not outlive an operation."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if hasattr(context, "renew_loaders"):
            context.renew_loaders()
        yield


def _is_coercion_error(error: GraphQLError) -> bool:
    """A variable that did not fit its type (a missing `Int!`, `2.5` for an `Int`, an unknown enum
    value): graphql-core wraps the type's own GraphQLError, before execution (so no path). A
    scalar that crashed with a Python exception instead is our bug, and stays unexpected."""
    original = error.original_error
    return (
        error.path is None
        and isinstance(original, GraphQLError)
        and original.original_error is None
    )


def _is_expected(error: GraphQLError) -> bool:
    # Validation and parse errors carry no original exception; they describe the client's query.
    return error.original_error is None or _is_coercion_error(error)


_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def _as_client_error(error: GraphQLError, hide_suggestions: bool) -> GraphQLError:
    """Coercion errors get the `VALIDATION` code; without introspection, no name suggestions."""
    coercion = _is_coercion_error(error)
    message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
    if not coercion and message == error.message:
        return error
    extensions = {**(error.extensions or {})}
    if coercion:
        extensions.setdefault("code", "VALIDATION")
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions or None,
    )


def _mask(error: GraphQLError) -> GraphQLError:
    # The request's id (X-Request-ID, echoed on the response and in the access log) when there
    # is one, so a user's report, the response header and the logs name the same request.
    correlation_id = request_id_var.get() or uuid.uuid4().hex
    log.error(
        "unexpected error in resolver",
        exc_info=error.original_error,
        extra={"correlation_id": correlation_id, "path": error.path},
    )
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id},
    )


class CorrelatedMaskErrors(MaskErrors):
    def __init__(self, hide_suggestions: bool = False) -> None:
        super().__init__(should_mask_error=lambda e: not _is_expected(e))
        self.hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return _mask(error)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [
            _mask(error)
            if not _is_expected(error)
            else _as_client_error(error, self.hide_suggestions)
            for error in errors
        ]


PARSER_CACHE_SIZE = 256  # distinct documents; every subscription of the same text shares one


class CachedParse(ParserCache):
    """`ParserCache` that leaves a document it cannot parse to Strawberry's own parse step.

    A syntax error raised from an extension's `on_parse` escapes Strawberry's handling on the
    streaming path (graphql-transport-ws): the socket got a bare `complete` and the server logged
    an exception. Left unparsed, the document is parsed again inside Strawberry's try, which
    answers the syntax error as an `error` message (and as a 400 over HTTP, as before).
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield


def schema_extensions(settings: Settings) -> list[Callable[[], Any] | type[SchemaExtension]]:
    """Per-operation extension factories (Strawberry builds fresh instances for every operation).

    Documents are parsed once per distinct text (`ParserCache`, after the token limit that sets
    the parser's options): a thousand subscriptions of one query hold one syntax tree. The
    depth and alias rules are built once here, and validation runs once per query text
    (`gql.validation`); only the cost, which depends on the variables, is priced per operation.
    """
    rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    verdicts = Verdicts()
    extensions: list[Callable[[], Any] | type[SchemaExtension]] = [
        FreshLoaders,
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        lambda: CachedParse(maxsize=PARSER_CACHE_SIZE),
        lambda: CachedValidation(rules, settings.graphql_max_cost, verdicts),
    ]
    if settings.is_production:
        extensions.append(DisableIntrospection)
    # Name suggestions ("Did you mean 'party'?") would map the schema introspection hides.
    hide_suggestions = settings.is_production
    extensions.append(lambda: CorrelatedMaskErrors(hide_suggestions=hide_suggestions))
    return extensions
