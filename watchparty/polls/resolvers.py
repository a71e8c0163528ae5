"""Poll mutations. Thin: unpack the input, call one service function, map the result.

`Party.polls` (the read side) is in `polls.listing`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    ValidationError,
)
from watchparty.polls import service
from watchparty.polls.types import (
    ClosePollInput,
    CreatePollInput,
    Poll,
    PollClosed,
    PollPayload,
    VotePollInput,
    returns_poll_errors,
)

CreatePollResult = Annotated[
    PollPayload | NotAuthenticated | NotAllowed | NotFound | ValidationError | PartyEndedError,
    strawberry.union("CreatePollResult"),
]
VotePollResult = Annotated[
    PollPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ValidationError
    | PollClosed
    | PartyEndedError,
    strawberry.union("VotePollResult"),
]
ClosePollResult = Annotated[
    PollPayload | NotAuthenticated | NotAllowed | NotFound | PartyEndedError | ValidationError,
    strawberry.union("ClosePollResult"),
]


def _payload(result: service.PollResult) -> PollPayload:
    return PollPayload(poll=Poll.from_payload(result.poll, mine=result.my_option_ids))


@strawberry.type
class PollQueries:
    pass


@strawberry.type
class PollMutations:
    @strawberry.mutation(
        description="Ask the party a question. Who may: the party's pollPolicy (moderators "
        "and above by default, or every member)."
    )
    @returns_poll_errors
    async def create_poll(self, info: Info, input: CreatePollInput) -> CreatePollResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        draft = service.PollDraft(
            question=input.question,
            options=list(input.options),
            allows_multiple=input.allows_multiple,
            closes_at=input.closes_at,
        )
        async with ctx.state.unit_of_work() as uow:
            result = await service.create_poll(uow, viewer.id, input.party_id, draft)
        return _payload(result)

    @strawberry.mutation(
        description="Cast, change or (with an empty list) withdraw the viewer's ballot while the "
        "poll is open. Active members only."
    )
    @returns_poll_errors
    async def vote_poll(self, info: Info, input: VotePollInput) -> VotePollResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        option_ids = [str(i) for i in input.option_ids]
        async with ctx.state.unit_of_work() as uow:
            result = await service.vote_poll(uow, viewer.id, input.poll_id, option_ids)
        return _payload(result)

    @strawberry.mutation(
        description="Close a poll now: its creator, or a moderator and above. Closing a closed "
        "poll changes nothing."
    )
    @returns_poll_errors
    async def close_poll(self, info: Info, input: ClosePollInput) -> ClosePollResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            result = await service.close_poll(uow, viewer.id, input.poll_id)
        return _payload(result)
