"""GraphQL types of live reactions and of the host's reaction statistics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.errors import Problem
from watchparty.gql.errors import UserError, errors_mapped_by, to_error
from watchparty.gql.pagination import client_error
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.kit.pagination import PaginationError, page_size
from watchparty.parties.member_types import user_from_payload
from watchparty.reactions import errors
from watchparty.reactions.models import BUCKET_SECONDS

DEFAULT_HOT_SPOTS = 10


@same_for_every_viewer()
@strawberry.type(description="A live reaction over the video (ephemeral: never replayed).")
class Reaction:
    id: strawberry.ID = strawberry.field(description="Unique per reaction (for de-duplication).")
    emoji: str
    user: User
    item_id: strawberry.ID | None = strawberry.field(
        description="The queue item playing when it was sent (null when none)."
    )
    video_position_seconds: float
    x: float = strawberry.field(description="0 (left) to 1 (right) over the player.")
    y: float = strawberry.field(description="0 (top) to 1 (bottom) over the player.")
    sent_at: datetime

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reaction:
        item_id = payload.get("itemId")
        return cls(
            id=strawberry.ID(payload["id"]),
            emoji=payload["emoji"],
            user=user_from_payload(payload["user"]),
            item_id=None if item_id is None else strawberry.ID(item_id),
            video_position_seconds=payload["videoPositionSeconds"],
            x=payload["x"],
            y=payload["y"],
            sent_at=datetime.fromisoformat(payload["sentAt"]),
        )


@strawberry.type
class SendReactionPayload:
    reaction: Reaction


@strawberry.input
class SendReactionInput:
    party_id: strawberry.ID
    emoji: str = strawberry.field(description="One of Query.allowedEmoji.")
    video_position_seconds: float = strawberry.field(
        description="Where the sender's player was (0 or more seconds)."
    )
    x: float = strawberry.field(description="0..1 across the player.")
    y: float = strawberry.field(description="0..1 down the player.")


@strawberry.type
class EmojiCount:
    emoji: str
    count: int


@strawberry.type(
    description=f"A {BUCKET_SECONDS}-second stretch of a queue item and how many reactions it drew."
)
class ReactionHotSpot:
    item_id: strawberry.ID
    position_seconds: float = strawberry.field(
        description=f"Where the stretch starts (a multiple of {BUCKET_SECONDS})."
    )
    bucket_seconds: int = strawberry.field(description="The stretch's length.")
    count: int
    top_emoji: str = strawberry.field(description="Its most used emoji.")


@strawberry.type(description="Live reactions counted since the party began.")
class ReactionStats:
    total: int
    by_emoji: list[EmojiCount] = strawberry.field(description="Most used first.")
    _party_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The busiest stretches, busiest first (limit 0..100).")
    async def hot_spots(self, info: Info, limit: int = DEFAULT_HOT_SPOTS) -> list[ReactionHotSpot]:
        from watchparty.reactions.stats import hot_spots

        try:
            size = page_size(limit)
        except PaginationError:
            raise client_error(info, PaginationError("`limit` must not be negative.")) from None
        rows = await hot_spots(info.context.state.sessionmaker, self._party_id, size)
        return [
            ReactionHotSpot(
                item_id=strawberry.ID(str(row.item_id)),
                position_seconds=row.position_seconds,
                bucket_seconds=BUCKET_SECONDS,
                count=row.count,
                top_emoji=row.top_emoji,
            )
            for row in rows
        ]


async def reaction_stats(info: Info, party_id: uuid.UUID) -> ReactionStats:
    from watchparty.reactions.stats import emoji_counts

    counts = await emoji_counts(info.context.state.sessionmaker, party_id)
    return ReactionStats(
        total=sum(row.count for row in counts),
        by_emoji=[EmojiCount(emoji=row.emoji, count=row.count) for row in counts],
        _party_id=party_id,
    )


@strawberry.type(description="Reactions are turned off in this party (code REACTIONS_DISABLED).")
class ReactionsDisabled(UserError):
    pass


def to_reaction_error(problem: Problem) -> UserError:
    if isinstance(problem, errors.ReactionsDisabled):
        return ReactionsDisabled(code=problem.code, message=problem.message, field=None)  # type: ignore[arg-type]
    return to_error(problem)


returns_reaction_errors = errors_mapped_by(to_reaction_error)
