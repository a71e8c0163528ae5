"""The GraphQL side of paging: Relay's `PageInfo` and how a bad page request reaches the client.

The rules (cursors, page sizes, `PaginationError`) are plain Python in `kit.pagination`, so that
services page without GraphQL. A `PaginationError` is the client's mistake: resolvers turn it into
a GraphQL error with code VALIDATION through `client_error`, mostly as `with paging_errors(info)`
(query fields have no error union; an error located at the field's path is not masked).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.kit.pagination import PaginationError


def client_error(info: Info[Any, Any], problem: Exception) -> GraphQLError:
    """A GraphQL error at this field's path: shown to the client as is (not masked)."""
    return GraphQLError(str(problem), path=info.path.as_list(), extensions={"code": "VALIDATION"})


def not_signed_in(info: Info[Any, Any]) -> GraphQLError:
    """A field that has no null to answer an anonymous viewer with: an error at its path whose
    `extensions.code` is NOT_AUTHENTICATED."""
    return GraphQLError(
        "You need to sign in.", path=info.path.as_list(), extensions={"code": "NOT_AUTHENTICATED"}
    )


@contextmanager
def paging_errors(info: Info[Any, Any]) -> Iterator[None]:
    """A `PaginationError` raised inside (a bad `first` or cursor) reaches the client as this
    field's `client_error`."""
    try:
        yield
    except PaginationError as exc:
        raise client_error(info, exc) from None


@same_for_every_viewer()
@strawberry.type(description="Where a page sits in its connection (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(cursors: list[str], *, has_next: bool, has_previous: bool) -> PageInfo:
    """The `PageInfo` of a page whose edges carry `cursors`, in order."""
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
