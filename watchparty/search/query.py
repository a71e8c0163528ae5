"""The `search` API's core, GraphQL-free: one request, answered by Typesense or, without it (or
while it does not answer), by the database (`fallback.py`), with the same visibility rules.

Visibility (both backends): PUBLIC parties and videos; never UNLISTED parties (found by their
link only); PRIVATE parties only for their ACTIVE members (a banned, kicked or departed member
is not one); a viewer's own videos whatever their visibility; users who did not opt out. In
Typesense the rule is one filter on two fields every document has (`visibility`, `viewer_ids`),
the same one a scoped key embeds; the hits are then checked against the database once more
(`visible_ids`), so a row changed since its document was written (deleted, made private, a
member banned) is dropped before the next indexing cycle already.

Results of several types are merged into one list (by text relevance, or newest first) and
paged by offset: `after` is an opaque cursor, and the depth is bounded (MAX_DEPTH).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from watchparty.parties.models import MemberStatus, Party, PartyMember, PartyVisibility
from watchparty.search import fallback
from watchparty.search.engine import QUERY_BY, SearchUnavailable, alias_name, engine_of
from watchparty.search.models import Entity
from watchparty.search.request import (
    MARK_END,
    MARK_START,
    QUERY_MAX_LENGTH,
    SUGGESTIONS_MAX,
    Hit,
    Result,
    SearchRequest,
    SearchSort,
    make_request,
    merge_page,
)

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

COLLECTION = {Entity.PARTY: "parties", Entity.VIDEO: "videos", Entity.USER: "users"}
FIELD_NAMES = {  # document field -> the GraphQL name shown in `highlights`
    "title": "title",
    "description": "description",
    "host_name": "hostName",
    "owner_name": "ownerName",
    "display_name": "displayName",
}


def visibility_filter(viewer_id: uuid.UUID | None) -> str:
    """Typesense's filter_by of what `viewer_id` may see (also embedded in scoped keys)."""
    if viewer_id is None:
        return "visibility:=PUBLIC"
    return f"(visibility:=PUBLIC || viewer_ids:=[`{viewer_id}`])"


def _values(values: tuple[str, ...]) -> str:
    return ",".join(f"`{v}`" for v in values)


def search_parameters(request: SearchRequest, entity: Entity, alias: str) -> dict[str, Any]:
    filters = [visibility_filter(request.viewer_id)]
    facets = ["type"]
    if entity is Entity.PARTY:
        facets.append("status")
        if request.filters.party_status:
            filters.append(f"status:=[{_values(request.filters.party_status)}]")
    elif entity is Entity.VIDEO:
        facets += ["duration_range", "provider"]
        if request.filters.provider:
            filters.append(f"provider:=[{_values(request.filters.provider)}]")
        if request.filters.duration_range:
            filters.append(f"duration_range:=[{_values(request.filters.duration_range)}]")
    sort = (
        "created_at:desc"
        if request.sort is SearchSort.NEWEST
        else "_text_match:desc,created_at:desc"
    )
    return {
        "collection": alias,
        "q": request.query or "*",
        "query_by": QUERY_BY[COLLECTION[entity]],
        "filter_by": " && ".join(filters),
        "facet_by": ",".join(facets),
        "sort_by": sort,
        "per_page": request.offset + request.first + 1,
        "page": 1,
        "prefix": "true",
        "num_typos": 2,
        "highlight_start_tag": MARK_START,
        "highlight_end_tag": MARK_END,
        "snippet_threshold": 30,
    }


async def search_typesense(state: AppState, request: SearchRequest) -> Result:
    engine = engine_of(state)
    assert engine is not None
    order = sorted(request.types, key=lambda e: e.value)
    if not order:
        return Result([], 0, False, request.offset, {}, "typesense")
    searches = [
        search_parameters(request, e, alias_name(state.settings, COLLECTION[e])) for e in order
    ]
    answer = await engine.call(
        lambda: engine.client.multi_search.perform({"searches": searches}, {})
    )
    hits: list[Hit] = []
    total = 0
    facets: dict[str, list[tuple[str, int]]] = {"type": []}
    engine_ms = 0.0
    for entity, result in zip(order, answer["results"], strict=True):
        if "error" in result:
            raise SearchUnavailable(str(result["error"]))
        found = int(result.get("found", 0))
        total += found
        engine_ms = max(engine_ms, float(result.get("search_time_ms", 0)))
        facets["type"].append((entity.value, found))
        for facet in result.get("facet_counts", []):
            name = facet["field_name"]
            if name == "type":
                continue
            key = "partyStatus" if name == "status" else _camel(name)
            facets[key] = [(c["value"], int(c["count"])) for c in facet["counts"]]
        for hit in result.get("hits", []):
            doc = hit["document"]
            hits.append(
                Hit(
                    entity=entity,
                    id=uuid.UUID(doc["id"]),
                    score=float(hit.get("text_match", 0)),
                    created_at=int(doc.get("created_at", 0)),
                    highlights=[
                        (FIELD_NAMES.get(h["field"], h["field"]), h.get("snippet", ""))
                        for h in hit.get("highlights", [])
                        if h.get("snippet")
                    ],
                )
            )
    page, has_next = merge_page(request, hits, total)
    return Result(page, total, has_next, request.offset, facets, "typesense", engine_ms)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def search(state: AppState, request: SearchRequest) -> Result:
    """Typesense when configured and answering, else the database."""
    if engine_of(state) is not None:
        try:
            return await search_typesense(state, request)
        except SearchUnavailable:
            pass
        except Exception:  # a refusal of ours (a 4xx): answered by the database, never a 500
            log.exception("typesense search failed")
    return await fallback.search(state, request)


async def suggestions(
    state: AppState, prefix: str, viewer_id: uuid.UUID | None, limit: int
) -> list[str]:
    """Titles and names starting like `prefix`, for the search box's drop-down (distinct)."""
    text = " ".join(prefix.split())[:QUERY_MAX_LENGTH]
    if not text:
        return []
    request = make_request(text, None, None, None, min(limit, SUGGESTIONS_MAX), None, viewer_id)
    result = await search(state, request)
    seen: list[str] = []
    for hit in result.hits:
        for field_name, snippet in hit.highlights:
            if field_name in ("title", "displayName"):
                plain = re.sub(r"</?mark>", "", snippet)
                if plain not in seen:
                    seen.append(plain)
    return seen[:limit]


async def visible_ids(
    state: AppState, viewer_id: uuid.UUID | None, party_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Of these parties, those the viewer may find now (the database's word)."""
    if not party_ids:
        return set()
    async with state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Party.id, Party.visibility).where(
                    Party.id.in_(party_ids), Party.deleted_at.is_(None)
                )
            )
        ).all()
        private = [pid for pid, vis in rows if vis is PartyVisibility.PRIVATE]
        member_of: set[uuid.UUID] = set()
        if private and viewer_id is not None:
            member_of = set(
                await session.scalars(
                    select(PartyMember.party_id).where(
                        PartyMember.party_id.in_(private),
                        PartyMember.user_id == viewer_id,
                        PartyMember.status == MemberStatus.ACTIVE,
                    )
                )
            )
    return {
        pid
        for pid, vis in rows
        if vis is PartyVisibility.PUBLIC or (vis is PartyVisibility.PRIVATE and pid in member_of)
    }
