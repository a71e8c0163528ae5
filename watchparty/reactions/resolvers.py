"""Reaction mutations. Thin: unpack the input, call one service function, map the result.

`Party.reactionStats` (the read side) is in `reactions.types` / `reactions.stats`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    RateLimited,
    ValidationError,
)
from watchparty.reactions import service
from watchparty.reactions.types import (
    Reaction,
    ReactionsDisabled,
    SendReactionInput,
    SendReactionPayload,
    returns_reaction_errors,
)

SendReactionResult = Annotated[
    SendReactionPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ValidationError
    | ReactionsDisabled
    | RateLimited
    | PartyEndedError,
    strawberry.union("SendReactionResult"),
]


@strawberry.type
class ReactionQueries:
    pass


@strawberry.type
class ReactionMutations:
    @strawberry.mutation(
        description="A live reaction over the video, fanned out to the party as ReactionSent "
        "(ephemeral) and counted for the host's statistics. Active members; rate limited."
    )
    @returns_reaction_errors
    async def send_reaction(self, info: Info, input: SendReactionInput) -> SendReactionResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        draft = service.ReactionDraft(
            emoji=input.emoji,
            video_position_seconds=input.video_position_seconds,
            x=input.x,
            y=input.y,
        )
        async with ctx.state.unit_of_work() as uow:
            payload = await service.send_reaction(uow, viewer.id, input.party_id, draft)
        return SendReactionPayload(reaction=Reaction.from_payload(payload))
