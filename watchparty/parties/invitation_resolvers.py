"""`inviteToParty`, `acceptPartyInvite` and `declinePartyInvite` (`direct_invites.py`). Thin:
unpack, call one service in one unit of work, map the result."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    PlanLimitExceeded,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
)
from watchparty.parties import direct_invites, listing
from watchparty.parties.direct_invites import InviteSkipReason
from watchparty.parties.error_types import Banned, PartyFull, returns_party_errors
from watchparty.parties.inputs import JoinPartyPayload
from watchparty.parties.types import Party

strawberry.enum(
    InviteSkipReason,
    description="Why someone was not invited: already an active member (or yourself); banned "
    "from this party; not someone you share a party with (nor an account at all: the two are "
    "not told apart); over your invitation rate limit.",
)


@strawberry.input
class InviteToPartyInput:
    party_id: strawberry.ID
    user_ids: list[strawberry.ID] = strawberry.field(
        description="1..20 people (duplicates count once)."
    )


@strawberry.input
class AcceptPartyInviteInput:
    notification_id: strawberry.ID = strawberry.field(description="Your PARTY_INVITE entry.")


@strawberry.input
class DeclinePartyInviteInput:
    notification_id: strawberry.ID = strawberry.field(description="Your PARTY_INVITE entry.")


@strawberry.type
class SkippedInvitee:
    user_id: strawberry.ID
    reason: InviteSkipReason


@strawberry.type(description="Who was invited (each gets a PARTY_INVITE) and who was not, why.")
class InviteToPartyPayload:
    party_id: strawberry.ID
    invited_user_ids: list[strawberry.ID]
    skipped: list[SkippedInvitee]


@strawberry.type(description="The invitation is read; nobody was told.")
class DeclinePartyInvitePayload:
    notification_id: strawberry.ID
    party_id: strawberry.ID


InviteToPartyResult = Annotated[
    InviteToPartyPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ValidationError
    | PartyEndedError
    | RateLimited
    | ServiceUnavailable,
    strawberry.union("InviteToPartyResult"),
]
AcceptPartyInviteResult = Annotated[
    JoinPartyPayload
    | NotAuthenticated
    | NotFound
    | ValidationError
    | PartyFull
    | PlanLimitExceeded
    | Banned
    | PartyEndedError,
    strawberry.union("AcceptPartyInviteResult"),
]
DeclinePartyInviteResult = Annotated[
    DeclinePartyInvitePayload | NotAuthenticated | NotFound | ValidationError,
    strawberry.union("DeclinePartyInviteResult"),
]


@strawberry.type
class InvitationMutations:
    @strawberry.mutation(
        description="Invite people you share a party with (host, co-hosts): each gets a "
        "PARTY_INVITE notification. Those who cannot be invited are listed in `skipped`."
    )
    @returns_party_errors
    async def invite_to_party(self, info: Info, input: InviteToPartyInput) -> InviteToPartyResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            result = await direct_invites.invite_to_party(
                uow, viewer.id, str(input.party_id), [str(u) for u in input.user_ids]
            )
        return InviteToPartyPayload(
            party_id=strawberry.ID(str(result.party.id)),
            invited_user_ids=[strawberry.ID(str(u)) for u in result.invited],
            skipped=[
                SkippedInvitee(user_id=strawberry.ID(raw), reason=reason)
                for raw, reason in result.skipped
            ],
        )

    @strawberry.mutation(
        description="Join the party of your PARTY_INVITE notification (as by an invite link: "
        "no approval; bans and capacity apply) and mark the notification read."
    )
    @returns_party_errors
    async def accept_party_invite(
        self, info: Info, input: AcceptPartyInviteInput
    ) -> AcceptPartyInviteResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            joined = await direct_invites.accept_party_invite(
                uow, viewer.id, str(input.notification_id)
            )
        member = await listing.member_with_user(info, joined.member)
        assert member is not None  # memberships cascade with their user
        return JoinPartyPayload(party=Party.from_model(joined.party), member=member)

    @strawberry.mutation(
        description="Decline your PARTY_INVITE notification: it is marked read, nobody is told."
    )
    @returns_party_errors
    async def decline_party_invite(
        self, info: Info, input: DeclinePartyInviteInput
    ) -> DeclinePartyInviteResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            party_id = await direct_invites.decline_party_invite(
                uow, viewer.id, str(input.notification_id)
            )
        return DeclinePartyInvitePayload(
            notification_id=input.notification_id, party_id=strawberry.ID(str(party_id))
        )
