"""GraphQL types of search: the connection of `Party | Video | User` nodes with highlights and
facets, its inputs, the discovery lists' results and the scoped key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import strawberry

from watchparty.accounts.types import User
from watchparty.gql.pagination import PageInfo
from watchparty.parties.models import PartyStatus
from watchparty.parties.types import Party
from watchparty.search.models import Entity
from watchparty.search.request import SearchSort
from watchparty.videos.models import VideoProvider
from watchparty.videos.types import Video


class DurationRange(StrEnum):
    SHORT = "SHORT"  # under 5 minutes
    MEDIUM = "MEDIUM"  # 5 to 20
    LONG = "LONG"  # 20 to 60
    FEATURE = "FEATURE"  # an hour or more


class SearchSource(StrEnum):
    TYPESENSE = "TYPESENSE"
    DATABASE = "DATABASE"


strawberry.enum(Entity, name="SearchType", description="What `search` looks for.")
strawberry.enum(
    DurationRange,
    description="Video lengths: SHORT < 5 min, MEDIUM < 20, LONG < 60, FEATURE longer.",
)
strawberry.enum(
    SearchSource,
    description="Who answered: TYPESENSE, or the DATABASE (embedded mode, or while Typesense "
    "does not answer).",
)


strawberry.enum(SearchSort, description="RELEVANCE (text match, then newest) or NEWEST.")


SearchNode = Annotated[Party | Video | User, strawberry.union("SearchNode")]


@strawberry.input(
    description="Narrow a search; each list at most 10 values. A party filter "
    "leaves only parties, a video filter only videos."
)
class SearchFilters:
    party_status: list[PartyStatus] | None = None
    provider: list[VideoProvider] | None = None
    duration_range: list[DurationRange] | None = None


@strawberry.type(description="A matched field with the matched words in <mark>…</mark>.")
class SearchHighlight:
    field: str
    snippet: str


@strawberry.type
class SearchEdge:
    cursor: str
    node: SearchNode
    highlights: list[SearchHighlight]


@strawberry.type(description="How many results have this value.")
class FacetCount:
    value: str
    count: int


@strawberry.type(
    description="Counts per value of one field: type, partyStatus, provider, "
    "durationRange (those of the types searched)."
)
class SearchFacet:
    field: str
    counts: list[FacetCount]


@strawberry.type
class SearchConnection:
    edges: list[SearchEdge]
    page_info: PageInfo
    total_count: int
    facets: list[SearchFacet]
    source: SearchSource


@strawberry.type(description="Where the frontend queries Typesense directly (InstantSearch).")
class SearchCollections:
    parties: str
    videos: str
    users: str


@strawberry.type(
    description="A search-only Typesense key for this viewer: its embedded filter shows only "
    "what the viewer may see, and it expires."
)
class SearchKey:
    key: str
    url: str
    expires_at: datetime
    collections: SearchCollections


# The lists the schema bounds (the query cost model's `BOUNDED_LISTS`; registered by `schema.py`).
MAX_HIGHLIGHTS = 3  # the searched fields of a type
MAX_FACETS = 4  # type, partyStatus, provider, durationRange
MAX_FACET_VALUES = 10
BOUNDED_LISTS = (
    ("SearchEdge", "highlights", MAX_HIGHLIGHTS),
    ("SearchConnection", "facets", MAX_FACETS),
    ("SearchFacet", "counts", MAX_FACET_VALUES),
    ("Query", "searchSuggestions", 10),
)
