"""GraphQL over HTTP details: response media type negotiation and request-error classification.

The GraphQL-over-HTTP spec has two response media types. With the legacy `application/json`
every well-formed request is answered 200, even when the document does not parse or validate.
With `application/graphql-response+json` the status tells the client whether execution started:
a request error (parse, validation, variable coercion) is a 4xx and carries no `data` entry.
"""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
INTERNAL_ERROR_CODE = "INTERNAL_SERVER_ERROR"


def _ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return ranges


def _match(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """(quality, specificity) of the most specific range matching `media`; (0, -1) if none."""
    kind = media.split("/", 1)[0]
    best = (0.0, -1)
    for candidate, quality in ranges:
        if candidate == media:
            specificity = 2
        elif candidate == f"{kind}/*":
            specificity = 1
        elif candidate == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header.

    No Accept header, or one that names neither type, gets `application/json` (the spec's
    default for legacy clients; we prefer answering to a 406). A bare wildcard also gets
    `application/json`; `application/graphql-response+json` wins when a client names it at
    least as strongly as `application/json`.
    """
    if not accept:
        return JSON
    ranges = _ranges(accept)
    modern_q, modern_s = _match(GRAPHQL_RESPONSE_JSON, ranges)
    legacy_q, legacy_s = _match(JSON, ranges)
    if modern_q > 0 and modern_s == 2 and (modern_q, modern_s) >= (legacy_q, legacy_s):
        return GRAPHQL_RESPONSE_JSON
    if legacy_q > 0 or modern_q <= 0:
        return JSON
    return GRAPHQL_RESPONSE_JSON


def is_request_error(result: ExecutionResult) -> bool:
    """Execution never started: the document failed to parse or validate, or variables failed
    coercion. Field errors always carry a path; these errors never do."""
    if isinstance(result, PreExecutionError):
        return True
    errors: list[GraphQLError] = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)


def is_internal(result: ExecutionResult) -> bool:
    return any(
        (error.extensions or {}).get("code") == INTERNAL_ERROR_CODE for error in result.errors or []
    )
