"""One search request, validated and bounded, and its answer: what the Typesense path
(`query.py`) and the database path (`fallback.py`) share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from watchparty.kit.pagination import PaginationError, bad_cursor, decode_cursor, encode_cursor
from watchparty.search.models import Entity

QUERY_MAX_LENGTH = 200
MAX_PAGE = 50
DEFAULT_PAGE = 20
MAX_DEPTH = 500  # offset + page: deeper pages are refused (narrow the query instead)
SUGGESTIONS_MAX = 10
FILTER_VALUES_MAX = 10

MARK_START, MARK_END = "<mark>", "</mark>"


class SearchSort(StrEnum):
    RELEVANCE = "RELEVANCE"
    NEWEST = "NEWEST"


@dataclass(frozen=True)
class SearchFilters:
    party_status: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    duration_range: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchRequest:
    query: str
    types: frozenset[Entity]
    filters: SearchFilters
    sort: SearchSort
    first: int
    offset: int
    viewer_id: uuid.UUID | None


@dataclass
class Hit:
    entity: Entity
    id: uuid.UUID
    score: float
    created_at: int
    highlights: list[tuple[str, str]]


@dataclass
class Result:
    hits: list[Hit]
    total: int
    has_next: bool
    offset: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    backend: str = "typesense"
    engine_ms: float = 0.0  # Typesense's own search time (bench)


def make_request(
    query: str,
    types: list[Entity] | None,
    filters: SearchFilters | None,
    sort: SearchSort | None,
    first: int | None,
    after: str | None,
    viewer_id: uuid.UUID | None,
) -> SearchRequest:
    """Validated and bounded; PaginationError for a bad `first`/`after`."""
    text = " ".join(query.split())[:QUERY_MAX_LENGTH]
    if first is not None and first < 0:
        raise PaginationError("`first` must not be negative.")
    size = DEFAULT_PAGE if first is None else min(first, MAX_PAGE)
    offset = 0
    if after is not None:
        key = decode_cursor(after, 2)
        if key is None or key[0] != "search" or not isinstance(key[1], int) or key[1] < 0:
            raise bad_cursor()
        offset = key[1]
    if offset + size > MAX_DEPTH:
        raise PaginationError(f"Search pages end after {MAX_DEPTH} results: narrow the query.")
    filters = filters or SearchFilters()
    chosen = set(types or list(Entity))
    # a filter of one type's field leaves only that type (no other can match it)
    if filters.party_status:
        chosen &= {Entity.PARTY}
    if filters.provider or filters.duration_range:
        chosen &= {Entity.VIDEO}
    return SearchRequest(
        query=text,
        types=frozenset(chosen),
        filters=SearchFilters(
            tuple(filters.party_status[:FILTER_VALUES_MAX]),
            tuple(filters.provider[:FILTER_VALUES_MAX]),
            tuple(filters.duration_range[:FILTER_VALUES_MAX]),
        ),
        sort=sort or SearchSort.RELEVANCE,
        first=size,
        offset=offset,
        viewer_id=viewer_id,
    )


def cursor_at(offset: int) -> str:
    return encode_cursor("search", offset)


def merge_page(request: SearchRequest, hits: list[Hit], total: int) -> tuple[list[Hit], bool]:
    if request.sort is SearchSort.NEWEST:
        hits.sort(key=lambda h: (h.created_at, str(h.id)), reverse=True)
    else:
        hits.sort(key=lambda h: (h.score, h.created_at, str(h.id)), reverse=True)
    page = hits[request.offset : request.offset + request.first]
    return page, request.offset + request.first < total
