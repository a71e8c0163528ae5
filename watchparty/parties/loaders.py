"""Per-operation DataLoaders for parties; each batch opens its own short session.

Sibling GraphQL fields resolve concurrently, so no field shares a session: a list of 50 parties
with `memberCount` and `myMembership` costs one query per field, not one per party.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from watchparty.loaders import Loaders
from watchparty.parties.models import MemberStatus, Party, PartyMember, QueueItem

MembershipKey = tuple[uuid.UUID, uuid.UUID]  # (party id, user id)


def party_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[uuid.UUID, Party | None]:
    """Parties by id, deleted ones included (callers decide what a deleted party means)."""

    async def load(ids: Sequence[uuid.UUID]) -> list[Party | None]:
        async with sessionmaker() as session:
            rows = await session.scalars(select(Party).where(Party.id.in_(ids)))
            found = {p.id: p for p in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def member_count_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[uuid.UUID, int]:
    """Active members per party."""

    async def load(ids: Sequence[uuid.UUID]) -> list[int]:
        async with sessionmaker() as session:
            rows = await session.execute(
                select(PartyMember.party_id, func.count())
                .where(PartyMember.party_id.in_(ids), PartyMember.status == MemberStatus.ACTIVE)
                .group_by(PartyMember.party_id)
            )
            counts = {party_id: int(n) for party_id, n in rows.all()}
        return [counts.get(i, 0) for i in ids]

    return DataLoader(load_fn=load)


def membership_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[MembershipKey, PartyMember | None]:
    """A user's membership row of a party, whatever its status."""

    async def load(keys: Sequence[MembershipKey]) -> list[PartyMember | None]:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(PartyMember).where(
                    tuple_(PartyMember.party_id, PartyMember.user_id).in_(list(keys))
                )
            )
            found = {(m.party_id, m.user_id): m for m in rows}
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load)


class PartyLoaders:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.party = party_loader(sessionmaker)
        self.member_count = member_count_loader(sessionmaker)
        self.membership = membership_loader(sessionmaker)


def party_loaders_of(loaders: Loaders) -> PartyLoaders:
    """The operation's party loaders, registered in its registry (`watchparty.loaders`)."""
    return loaders.get("parties", lambda state: PartyLoaders(state.sessionmaker))


class PlaybackLoaders:
    """`Party.playback` and `Party.queue`: the party rows and queues they render. The party
    loader is their own, as it always was: sharing `PartyLoaders.party` (the same query) would
    change which field of an operation reads the row first, and the queries counted in tests."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.party = party_loader(sessionmaker)
        self.queue = queue_loader(sessionmaker)


def queue_loader(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> DataLoader[uuid.UUID, list[QueueItem]]:
    """Each party's queue in play order."""

    async def load(ids: Sequence[uuid.UUID]) -> list[list[QueueItem]]:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(QueueItem)
                .where(QueueItem.party_id.in_(ids))
                .order_by(QueueItem.position, QueueItem.created_at)
            )
            found: dict[uuid.UUID, list[QueueItem]] = {i: [] for i in ids}
            for item in rows:
                found[item.party_id].append(item)
        return [found[i] for i in ids]

    return DataLoader(load_fn=load)


def playback_loaders_of(loaders: Loaders) -> PlaybackLoaders:
    """The operation's playback loaders, registered in its registry (`watchparty.loaders`)."""
    return loaders.get("parties.playback", lambda state: PlaybackLoaders(state.sessionmaker))
