"""The `search` API on the database: the embedded default (no TYPESENSE_URL) and the fallback
while Typesense does not answer. Same request, same visibility, same result shape.

Matching: every word of the query must occur in one of the searched fields (case-insensitive
substring, so prefixes match as the user types: `ILIKE` on both databases). On PostgreSQL with
pg_trgm (migration 0017 creates it when the server offers it) a row whose title or name is
similar enough to the whole query (`word_similarity`, trigrams) also matches: typo tolerance.
SQLite has none (a documented limit of the embedded mode). Highlights are computed here, with
the same `<mark>` tags as Typesense's snippets.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select, text
from sqlalchemy.exc import DBAPIError

from watchparty.accounts.models import User
from watchparty.parties.models import MemberStatus, Party, PartyMember, PartyVisibility
from watchparty.search.documents import DURATION_RANGES, epoch_ms
from watchparty.search.models import Entity
from watchparty.search.request import (
    MARK_END,
    MARK_START,
    Hit,
    Result,
    SearchRequest,
    SearchSort,
    merge_page,
)
from watchparty.videos.models import Video, VideoStatus, VideoVisibility

if TYPE_CHECKING:
    from watchparty.state import AppState

MAX_TOKENS = 8
TRIGRAM_THRESHOLD = 0.45
SNIPPET_LENGTH = 120
FUZZY_RATIO = 0.75


def tokens_of(query: str) -> list[str]:
    return [t.lower() for t in re.findall(r"\w+", query)][:MAX_TOKENS]


def _like(column: Any, token: str) -> ColumnElement[bool]:
    escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.coalesce(column, "").ilike(f"%{escaped}%", escape="\\")


def _matches(columns: list[Any], tokens: list[str], fuzzy: list[Any], query: str) -> Any:
    if not tokens:
        return literal(True)
    every = and_(*(or_(*(_like(c, t) for c in columns)) for t in tokens))
    if not fuzzy:
        return every
    similar = [func.word_similarity(query, func.coalesce(c, "")) > TRIGRAM_THRESHOLD for c in fuzzy]
    return or_(every, *similar)


async def has_trigram(state: AppState) -> bool:
    cached = state.extras.get("search_pg_trgm")
    if cached is None:
        cached = False
        if not state.settings.is_sqlite:
            async with state.sessionmaker() as session:
                try:
                    found = await session.scalar(
                        text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
                    )
                    cached = found is not None
                except DBAPIError:
                    cached = False
        state.extras["search_pg_trgm"] = cached
    return bool(cached)


def highlight(value: str | None, tokens: list[str], fuzzy: bool) -> str | None:
    """`value` with the matching words marked, cut around the first mark; None when none."""
    if not value or not tokens:
        return None
    marked: list[str] = []
    first = -1
    position = 0
    for match in re.finditer(r"\w+", value):
        word = match.group().lower()
        hit = any(t in word for t in tokens) or (
            fuzzy
            and any(difflib.SequenceMatcher(None, t, word).ratio() >= FUZZY_RATIO for t in tokens)
        )
        marked.append(value[position : match.start()])
        if hit:
            if first < 0:
                first = sum(len(part) for part in marked)
            marked.append(f"{MARK_START}{match.group()}{MARK_END}")
        else:
            marked.append(match.group())
        position = match.end()
    if first < 0:
        return None
    marked.append(value[position:])
    result = "".join(marked)
    if len(value) > SNIPPET_LENGTH:
        start = max(0, first - 30)
        result = ("…" if start else "") + result[start : start + SNIPPET_LENGTH + 40] + "…"
    return result


def _highlights(
    fields: list[tuple[str, str | None]], tokens: list[str], fuzzy: bool
) -> list[tuple[str, str]]:
    found = []
    for name, value in fields:
        snippet = highlight(value, tokens, fuzzy)
        if snippet is not None:
            found.append((name, snippet))
    return found


def _score(highlights: list[tuple[str, str]]) -> float:
    weights = {"title": 3.0, "displayName": 3.0, "hostName": 1.0, "ownerName": 1.0}
    return sum(weights.get(name, 0.5) * snippet.count(MARK_START) for name, snippet in highlights)


def _duration_range() -> Any:
    seconds = func.coalesce(Video.duration_seconds, -1.0)
    whens = [(seconds < 0, "UNKNOWN")]
    for name, upper in DURATION_RANGES:
        if upper is not None:
            whens.append((seconds < upper, name))
    return case(*whens, else_="FEATURE")


async def search(state: AppState, request: SearchRequest) -> Result:
    tokens = tokens_of(request.query)
    fuzzy = bool(tokens) and await has_trigram(state)
    viewer = request.viewer_id
    depth = request.offset + request.first + 1
    newest = request.sort is SearchSort.NEWEST
    hits: list[Hit] = []
    total = 0
    facets: dict[str, list[tuple[str, int]]] = {"type": []}
    async with state.sessionmaker() as session:
        if Entity.PARTY in request.types:
            member = exists().where(
                PartyMember.party_id == Party.id,
                PartyMember.user_id == viewer,
                PartyMember.status == MemberStatus.ACTIVE,
            )
            visible = [
                Party.deleted_at.is_(None),
                or_(
                    Party.visibility == PartyVisibility.PUBLIC,
                    and_(Party.visibility == PartyVisibility.PRIVATE, member)
                    if viewer is not None
                    else literal(False),
                ),
                _matches(
                    [Party.title, Party.description, User.display_name],
                    tokens,
                    [Party.title, User.display_name] if fuzzy else [],
                    request.query,
                ),
            ]
            if request.filters.party_status:
                visible.append(Party.status.in_(request.filters.party_status))
            base = select(Party.status, func.count()).join(User, User.id == Party.host_id)
            by_status = (await session.execute(base.where(*visible).group_by(Party.status))).all()
            found = sum(int(n) for _, n in by_status)
            total += found
            facets["type"].append((Entity.PARTY.value, found))
            facets["partyStatus"] = sorted(
                ((s.value, int(n)) for s, n in by_status), key=lambda x: -x[1]
            )
            rows = (
                await session.execute(
                    select(Party, User.display_name)
                    .join(User, User.id == Party.host_id)
                    .where(*visible)
                    .order_by(Party.created_at.desc(), Party.id.desc())
                    .limit(depth if newest or not tokens else depth * 4)
                )
            ).all()
            for party, host_name in rows:
                lights = _highlights(
                    [
                        ("title", party.title),
                        ("description", party.description),
                        ("hostName", host_name),
                    ],
                    tokens,
                    fuzzy,
                )
                hits.append(
                    Hit(Entity.PARTY, party.id, _score(lights), epoch_ms(party.created_at), lights)
                )
        if Entity.VIDEO in request.types:
            owner = User.display_name
            visible = [
                Video.deleted_at.is_(None),
                Video.status == VideoStatus.READY,
                or_(Video.visibility == VideoVisibility.PUBLIC, Video.owner_id == viewer)
                if viewer is not None
                else Video.visibility == VideoVisibility.PUBLIC,
                _matches(
                    [Video.title, Video.description, owner],
                    tokens,
                    [Video.title] if fuzzy else [],
                    request.query,
                ),
            ]
            if request.filters.provider:
                visible.append(Video.provider.in_(request.filters.provider))
            ranges = _duration_range()
            if request.filters.duration_range:
                visible.append(ranges.in_(request.filters.duration_range))
            joined = select(Video.provider, ranges, func.count()).join(
                User, User.id == Video.owner_id
            )
            groups = (
                await session.execute(joined.where(*visible).group_by(Video.provider, ranges))
            ).all()
            found = sum(int(n) for *_, n in groups)
            total += found
            facets["type"].append((Entity.VIDEO.value, found))
            providers: dict[str, int] = {}
            durations: dict[str, int] = {}
            for provider, bucket, n in groups:
                providers[provider.value] = providers.get(provider.value, 0) + int(n)
                durations[str(bucket)] = durations.get(str(bucket), 0) + int(n)
            facets["provider"] = sorted(providers.items(), key=lambda x: -x[1])
            facets["durationRange"] = sorted(durations.items(), key=lambda x: -x[1])
            video_rows = (
                await session.execute(
                    select(Video, owner)
                    .join(User, User.id == Video.owner_id)
                    .where(*visible)
                    .order_by(Video.created_at.desc(), Video.id.desc())
                    .limit(depth if newest or not tokens else depth * 4)
                )
            ).all()
            for video, owner_name in video_rows:
                lights = _highlights(
                    [
                        ("title", video.title),
                        ("description", video.description),
                        ("ownerName", owner_name),
                    ],
                    tokens,
                    fuzzy,
                )
                hits.append(
                    Hit(Entity.VIDEO, video.id, _score(lights), epoch_ms(video.created_at), lights)
                )
        if Entity.USER in request.types:
            visible = [
                User.searchable,
                User.is_active,
                _matches(
                    [User.display_name], tokens, [User.display_name] if fuzzy else [], request.query
                ),
            ]
            found = int(
                await session.scalar(select(func.count()).select_from(User).where(*visible)) or 0
            )
            total += found
            facets["type"].append((Entity.USER.value, found))
            users = await session.scalars(
                select(User)
                .where(*visible)
                .order_by(User.created_at.desc(), User.id.desc())
                .limit(depth if newest or not tokens else depth * 4)
            )
            for user in users:
                lights = _highlights([("displayName", user.display_name)], tokens, fuzzy)
                hits.append(
                    Hit(Entity.USER, user.id, _score(lights), epoch_ms(user.created_at), lights)
                )
    page, has_next = merge_page(request, hits, total)
    return Result(page, total, has_next, request.offset, facets, "database")
