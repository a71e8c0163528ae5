"""Discovery lists: trending (live now) and upcoming (scheduled) PUBLIC parties, bounded.

Trending reads what is cheap: the LIVE public parties (newest TRENDING_CANDIDATES), their
online counts from presence (one round trip for all), and their chat messages and reactions of
the last TRENDING_WINDOW (one grouped count each on an indexed column pair). Score: online
members x 3 + messages per minute + reactions per minute / 2 (reactions come in bursts).
Reactions are read from the analytics events (`reaction.send`, server events with the party and
their time: the reactions' own tables keep per-position totals, not times), by table name like
aggregation reads other domains' tables; with analytics off they count nothing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Uuid, column, func, select, table

from watchparty.chat.models import ChatMessage
from watchparty.db import UTCDateTime
from watchparty.kit.time import utcnow
from watchparty.parties.models import Party, PartyStatus, PartyVisibility
from watchparty.search.documents import online_counts

if TYPE_CHECKING:
    from watchparty.state import AppState

DISCOVERY_MAX = 50
TRENDING_CANDIDATES = 200
TRENDING_WINDOW = timedelta(minutes=10)
UPCOMING_GRACE = timedelta(minutes=5)  # a start a few minutes late still shows
REACTION_WEIGHT = 0.5  # a reaction per minute counts half a message per minute

_events = table(
    "analytics_events",
    column("name"),
    column("party_id", Uuid()),
    column("occurred_at", UTCDateTime(timezone=True)),
)


async def trending_parties(state: AppState, first: int) -> list[Party]:
    limit = max(0, min(first, DISCOVERY_MAX))
    if not limit:
        return []
    async with state.sessionmaker() as session:
        live = list(
            await session.scalars(
                select(Party)
                .where(
                    Party.status == PartyStatus.LIVE,
                    Party.visibility == PartyVisibility.PUBLIC,
                    Party.deleted_at.is_(None),
                )
                .order_by(Party.started_at.desc().nulls_last(), Party.id.desc())
                .limit(TRENDING_CANDIDATES)
            )
        )
        if not live:
            return []
        since = utcnow() - TRENDING_WINDOW
        chat: dict[uuid.UUID, int] = {
            party_id: int(count)
            for party_id, count in await session.execute(
                select(ChatMessage.party_id, func.count())
                .where(
                    ChatMessage.party_id.in_([p.id for p in live]),
                    ChatMessage.created_at >= since,
                )
                .group_by(ChatMessage.party_id)
            )
        }
        reactions: dict[uuid.UUID, int] = {
            party_id: int(count)
            for party_id, count in await session.execute(
                select(_events.c.party_id, func.count())
                .where(
                    _events.c.party_id.in_([p.id for p in live]),
                    _events.c.occurred_at >= since,
                    _events.c.name == "reaction.send",
                )
                .group_by(_events.c.party_id)
            )
        }
    online = await online_counts(state, [p.id for p in live])
    minutes = TRENDING_WINDOW.total_seconds() / 60

    def score(party: Party) -> tuple[float, float]:
        value = (
            online.get(party.id, 0) * 3
            + chat.get(party.id, 0) / minutes
            + reactions.get(party.id, 0) * REACTION_WEIGHT / minutes
        )
        return value, party.created_at.timestamp()

    return sorted(live, key=score, reverse=True)[:limit]


async def upcoming_parties(state: AppState, first: int) -> list[Party]:
    limit = max(0, min(first, DISCOVERY_MAX))
    if not limit:
        return []
    async with state.sessionmaker() as session:
        return list(
            await session.scalars(
                select(Party)
                .where(
                    Party.status == PartyStatus.SCHEDULED,
                    Party.visibility == PartyVisibility.PUBLIC,
                    Party.deleted_at.is_(None),
                    Party.scheduled_start.is_not(None),
                    Party.scheduled_start >= utcnow() - UPCOMING_GRACE,
                )
                .order_by(Party.scheduled_start, Party.id)
                .limit(limit)
            )
        )
