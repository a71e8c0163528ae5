"""`Party.reactionStats`: the counters read back for the host's analytics (own short sessions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from watchparty.kit.emoji import ALLOWED_EMOJI
from watchparty.reactions.models import BUCKET_SECONDS, ReactionBucket, ReactionTotal

_ORDER = {emoji: index for index, emoji in enumerate(ALLOWED_EMOJI)}


def _emoji_rank(emoji: str) -> int:
    return _ORDER.get(emoji, len(_ORDER))


@dataclass
class EmojiCountRow:
    emoji: str
    count: int


@dataclass
class HotSpotRow:
    item_id: uuid.UUID
    position_seconds: float
    count: int
    top_emoji: str


async def emoji_counts(
    sessionmaker: async_sessionmaker[AsyncSession], party_id: uuid.UUID
) -> list[EmojiCountRow]:
    """Every emoji used in the party, most used first (ties in the allowed set's order)."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(ReactionTotal.emoji, ReactionTotal.count).where(
                ReactionTotal.party_id == party_id
            )
        )
        counts = [EmojiCountRow(emoji, int(count)) for emoji, count in rows.all()]
    return sorted(counts, key=lambda row: (-row.count, _emoji_rank(row.emoji)))


async def hot_spots(
    sessionmaker: async_sessionmaker[AsyncSession], party_id: uuid.UUID, limit: int
) -> list[HotSpotRow]:
    """The `limit` busiest (item, bucket) pairs, busiest first (ties: item id, then position)."""
    if limit <= 0:
        return []
    total = func.sum(ReactionBucket.count).label("total")
    async with sessionmaker() as session:
        spots = (
            await session.execute(
                select(ReactionBucket.item_id, ReactionBucket.bucket, total)
                .where(ReactionBucket.party_id == party_id)
                .group_by(ReactionBucket.item_id, ReactionBucket.bucket)
                .order_by(total.desc(), ReactionBucket.item_id, ReactionBucket.bucket)
                .limit(limit)
            )
        ).all()
        if not spots:
            return []
        keys = [(item_id, bucket) for item_id, bucket, _ in spots]
        rows = await session.execute(
            select(
                ReactionBucket.item_id,
                ReactionBucket.bucket,
                ReactionBucket.emoji,
                ReactionBucket.count,
            ).where(
                ReactionBucket.party_id == party_id,
                tuple_(ReactionBucket.item_id, ReactionBucket.bucket).in_(keys),
            )
        )
        best: dict[tuple[uuid.UUID, int], tuple[int, int, str]] = {}
        for item_id, bucket, emoji, count in rows.all():
            candidate = (-int(count), _emoji_rank(emoji), emoji)
            key = (item_id, bucket)
            if key not in best or candidate < best[key]:
                best[key] = candidate
    return [
        HotSpotRow(
            item_id=item_id,
            position_seconds=float(bucket * BUCKET_SECONDS),
            count=int(count),
            top_emoji=best[(item_id, bucket)][2],
        )
        for item_id, bucket, count in spots
    ]
