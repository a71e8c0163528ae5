"""How a subscription ends: a GraphQL error whose `extensions.code` tells the client what to do.

Subscriptions cannot return the mutations' error unions, so errors that end a stream are
GraphQL errors with a code (NOT_FOUND, NOT_AUTHENTICATED, NOT_ALLOWED, STREAM_OVERFLOW,
STREAM_CLOSED).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from watchparty.errors import NotAllowed, NotFound, Problem
from watchparty.events import EndReason, StreamEnded, format_cursor

_RESUME = {
    EndReason.OVERFLOW: "The stream fell behind; resume from `cursor`.",
    EndReason.CLOSED: "The server is shutting down; reconnect with your cursor.",
}
_RECONNECT = {
    EndReason.OVERFLOW: "The stream fell behind; reconnect.",
    EndReason.CLOSED: "The server is shutting down; reconnect.",
}


def stream_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    """An error that ends a stream; `extensions.code` tells the client what to do."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def ended_error(ended: StreamEnded, *, resumable: bool = True) -> GraphQLError:
    """The error for a stream `follow` ended. `resumable`: the client may pass a cursor back
    (then an overflow carries `extensions.cursor`); otherwise it just reconnects."""
    code = ended.reason.value
    if not resumable:
        return stream_error(_RECONNECT[ended.reason], code)
    if ended.reason is EndReason.OVERFLOW and ended.cursor is not None:
        return stream_error(_RESUME[ended.reason], code, cursor=format_cursor(ended.cursor))
    return stream_error(_RESUME[ended.reason], code)


def problem_error(problem: Problem) -> GraphQLError:
    """A NotFound / NotAllowed raised while authorizing a stream, as the error that ends it."""
    if not isinstance(problem, NotFound | NotAllowed):
        raise problem
    return stream_error(
        problem.message, "NOT_FOUND" if isinstance(problem, NotFound) else "NOT_ALLOWED"
    )
