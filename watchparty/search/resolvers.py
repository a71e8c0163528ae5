"""`search`, `searchSuggestions`, `trendingParties`, `upcomingParties` and `searchKey`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry
from sqlalchemy import select

from watchparty.accounts.models import User as UserModel
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.pagination import page_info, paging_errors
from watchparty.parties.models import Party as PartyModel
from watchparty.parties.types import Party
from watchparty.search import discovery
from watchparty.search import query as sq
from watchparty.search import request as sr
from watchparty.search.engine import SearchUnavailable, engine_of
from watchparty.search.keys import scoped_key
from watchparty.search.models import Entity
from watchparty.search.request import SearchSort
from watchparty.search.types import (
    MAX_FACET_VALUES,
    MAX_FACETS,
    MAX_HIGHLIGHTS,
    FacetCount,
    SearchCollections,
    SearchConnection,
    SearchEdge,
    SearchFacet,
    SearchFilters,
    SearchHighlight,
    SearchKey,
    SearchNode,
    SearchSource,
)
from watchparty.videos.models import Video as VideoModel
from watchparty.videos.models import VideoStatus, VideoVisibility
from watchparty.videos.types import Video

SUGGESTIONS_DEFAULT = 8


async def _nodes(info: Info, result: sr.Result) -> dict[tuple[Entity, uuid.UUID], SearchNode]:
    """The hits' rows as GraphQL objects, dropping any the database no longer shows the viewer
    (deleted, made private, membership lost, opted out) before the index caught up."""
    state, viewer_id = info.context.state, info.context.viewer_id
    ids: dict[Entity, list[uuid.UUID]] = {e: [] for e in Entity}
    for hit in result.hits:
        ids[hit.entity].append(hit.id)
    nodes: dict[tuple[Entity, uuid.UUID], SearchNode] = {}
    visible = await sq.visible_ids(state, viewer_id, ids[Entity.PARTY])
    async with state.sessionmaker() as session:
        if visible:
            for party in await session.scalars(
                select(PartyModel).where(PartyModel.id.in_(visible))
            ):
                nodes[(Entity.PARTY, party.id)] = Party.from_model(party)
        if ids[Entity.VIDEO]:
            for video in await session.scalars(
                select(VideoModel).where(
                    VideoModel.id.in_(ids[Entity.VIDEO]),
                    VideoModel.deleted_at.is_(None),
                    VideoModel.status == VideoStatus.READY,
                )
            ):
                if video.visibility is VideoVisibility.PUBLIC or video.owner_id == viewer_id:
                    nodes[(Entity.VIDEO, video.id)] = Video.from_model(video)
        if ids[Entity.USER]:
            for user in await session.scalars(
                select(UserModel).where(
                    UserModel.id.in_(ids[Entity.USER]), UserModel.searchable, UserModel.is_active
                )
            ):
                nodes[(Entity.USER, user.id)] = User.from_model(user, viewer_id=viewer_id)
    return nodes


@strawberry.type
class SearchQueries:
    @strawberry.field(
        description="Parties, videos and people matching `query` (typo-tolerant, prefixes "
        "match: made for a search box), with highlights and facets; only what the viewer may "
        "see. `first` at most 50; results end after 500."
    )
    async def search(
        self,
        info: Info,
        query: str,
        types: list[Entity] | None = None,
        filters: SearchFilters | None = None,
        sort: SearchSort | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> SearchConnection:
        f = filters or SearchFilters()
        with paging_errors(info):
            request = sr.make_request(
                query,
                types,
                sr.SearchFilters(
                    tuple(s.value for s in f.party_status or []),
                    tuple(p.value for p in f.provider or []),
                    tuple(d.value for d in f.duration_range or []),
                ),
                sort,
                first,
                after,
                info.context.viewer_id,
            )
        result = await sq.search(info.context.state, request)
        nodes = await _nodes(info, result)
        edges = []
        for index, hit in enumerate(result.hits):
            node = nodes.get((hit.entity, hit.id))
            if node is None:
                continue
            edges.append(
                SearchEdge(
                    cursor=sr.cursor_at(result.offset + index + 1),
                    node=node,
                    highlights=[
                        SearchHighlight(field=f, snippet=s)
                        for f, s in hit.highlights[:MAX_HIGHLIGHTS]
                    ],
                )
            )
        end = sr.cursor_at(result.offset + len(result.hits))
        cursors = [e.cursor for e in edges]
        if cursors:
            cursors[-1] = end  # skipped hits at the end must not be served again
        return SearchConnection(
            edges=edges,
            page_info=page_info(cursors, has_next=result.has_next, has_previous=result.offset > 0),
            total_count=result.total,
            facets=[
                SearchFacet(
                    field=name,
                    counts=[FacetCount(value=v, count=c) for v, c in counts[:MAX_FACET_VALUES]],
                )
                for name, counts in list(result.facets.items())[:MAX_FACETS]
            ],
            source=SearchSource.TYPESENSE
            if result.backend == "typesense"
            else SearchSource.DATABASE,
        )

    @strawberry.field(
        description="Completions for the search box's drop-down: titles and names matching "
        "`prefix` (at most 10)."
    )
    async def search_suggestions(
        self, info: Info, prefix: str, first: int | None = SUGGESTIONS_DEFAULT
    ) -> list[str]:
        limit = max(0, min(first or SUGGESTIONS_DEFAULT, sr.SUGGESTIONS_MAX))
        return await sq.suggestions(info.context.state, prefix, info.context.viewer_id, limit)

    @strawberry.field(
        description="PUBLIC parties live now, ranked by members online and chat over the last "
        "10 minutes (at most 50)."
    )
    async def trending_parties(self, info: Info, first: int | None = 10) -> list[Party]:
        rows = await discovery.trending_parties(info.context.state, first or 0)
        return [Party.from_model(p) for p in rows]

    @strawberry.field(description="PUBLIC scheduled parties, soonest first (at most 50).")
    async def upcoming_parties(self, info: Info, first: int | None = 10) -> list[Party]:
        rows = await discovery.upcoming_parties(info.context.state, first or 0)
        return [Party.from_model(p) for p in rows]

    @strawberry.field(
        description="A scoped, expiring, search-only Typesense key for this viewer (anonymous "
        "viewers get one for public documents); null when search runs on the database or "
        "Typesense does not answer."
    )
    async def search_key(self, info: Info) -> SearchKey | None:
        state = info.context.state
        engine = engine_of(state)
        if engine is None:
            return None
        try:
            await engine.ensure_collections()
        except SearchUnavailable:
            return None
        scoped = scoped_key(engine, state.settings, info.context.viewer_id)
        return SearchKey(
            key=scoped.key,
            url=state.settings.typesense_public_url or state.settings.typesense_url,
            expires_at=datetime.fromtimestamp(scoped.expires_at, UTC),
            collections=SearchCollections(**scoped.collections),
        )
