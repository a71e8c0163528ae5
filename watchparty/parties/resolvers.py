"""Query and Mutation fields for parties. Thin: unpack the input, call one service, map."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.errors import NotAuthenticated as NotAuthenticatedProblem
from watchparty.errors import NotFound as NotFoundProblem
from watchparty.errors import Problem
from watchparty.gql.errors import (
    InvalidToken,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    PlanLimitExceeded,
    ValidationError,
)
from watchparty.gql.pagination import paging_errors
from watchparty.parties import hosting, invites, joining, listing, moderation, service
from watchparty.parties.authz import load_party
from watchparty.parties.error_types import Banned, PartyFull, returns_party_errors
from watchparty.parties.inputs import (
    ApproveMemberInput,
    BanMemberInput,
    CreateInviteLinkInput,
    CreateInviteLinkPayload,
    CreatePartyInput,
    DeletePartyInput,
    DeletePartyPayload,
    EndPartyInput,
    JoinPartyInput,
    JoinPartyPayload,
    JoinPending,
    KickMemberInput,
    LeavePartyInput,
    LeavePartyPayload,
    MemberRemovedPayload,
    PartyMemberPayload,
    PartyPayload,
    RejectMemberInput,
    RevokeInviteLinkInput,
    RevokeInviteLinkPayload,
    SetMemberRoleInput,
    StartPartyInput,
    TransferHostInput,
    TransferHostPayload,
    UnbanMemberInput,
    UpdatePartyInput,
)
from watchparty.parties.loaders import party_loaders_of
from watchparty.parties.member_types import InviteLink, PartyMember
from watchparty.parties.models import Party as PartyModel
from watchparty.parties.models import PartyMember as PartyMemberModel
from watchparty.parties.models import PartyStatus
from watchparty.parties.types import Party, PartyConnection, PartyPreview

_Base = ValidationError | NotAuthenticated | NotAllowed | NotFound
CreatePartyResult = Annotated[
    PartyPayload | ValidationError | NotAuthenticated | NotFound | PlanLimitExceeded,
    strawberry.union("CreatePartyResult"),
]
UpdatePartyResult = Annotated[
    PartyPayload | _Base | PartyEndedError | PlanLimitExceeded,
    strawberry.union("UpdatePartyResult"),
]
DeletePartyResult = Annotated[DeletePartyPayload | _Base, strawberry.union("DeletePartyResult")]
StartPartyResult = Annotated[
    PartyPayload | _Base | PartyEndedError, strawberry.union("StartPartyResult")
]
EndPartyResult = Annotated[PartyPayload | _Base, strawberry.union("EndPartyResult")]
JoinPartyResult = Annotated[
    JoinPartyPayload
    | JoinPending
    | _Base
    | InvalidToken
    | PartyFull
    | PlanLimitExceeded
    | Banned
    | PartyEndedError,
    strawberry.union("JoinPartyResult"),
]
LeavePartyResult = Annotated[LeavePartyPayload | _Base, strawberry.union("LeavePartyResult")]
ApproveMemberResult = Annotated[
    PartyMemberPayload | _Base | PartyFull | PlanLimitExceeded | PartyEndedError,
    strawberry.union("ApproveMemberResult"),
]
RejectMemberResult = Annotated[
    MemberRemovedPayload | _Base | PartyEndedError, strawberry.union("RejectMemberResult")
]
SetMemberRoleResult = Annotated[
    PartyMemberPayload | _Base | PartyEndedError, strawberry.union("SetMemberRoleResult")
]
TransferHostResult = Annotated[
    TransferHostPayload | _Base | PartyEndedError, strawberry.union("TransferHostResult")
]
KickMemberResult = Annotated[
    MemberRemovedPayload | _Base | PartyEndedError, strawberry.union("KickMemberResult")
]
BanMemberResult = Annotated[
    PartyMemberPayload | _Base | PartyEndedError, strawberry.union("BanMemberResult")
]
UnbanMemberResult = Annotated[
    PartyMemberPayload | _Base | PartyEndedError, strawberry.union("UnbanMemberResult")
]
CreateInviteLinkResult = Annotated[
    CreateInviteLinkPayload | _Base | PartyEndedError, strawberry.union("CreateInviteLinkResult")
]
RevokeInviteLinkResult = Annotated[
    RevokeInviteLinkPayload | _Base, strawberry.union("RevokeInviteLinkResult")
]

T = TypeVar("T")


async def _member(info: Info, row: PartyMemberModel) -> PartyMember:
    member = await listing.member_with_user(info, row)
    assert member is not None  # memberships cascade with their user
    return member


async def _preview(info: Info, party: PartyModel) -> PartyPreview:
    loaders = info.context.loaders
    host = await user_loader_of(loaders).load(party.host_id)
    return PartyPreview(
        id=strawberry.ID(str(party.id)),
        title=party.title,
        visibility=party.visibility,
        status=party.status,
        requires_approval=party.require_approval,
        member_count=await party_loaders_of(loaders).member_count.load(party.id),
        max_members=party.max_members,
        scheduled_start=party.scheduled_start,
        host=None if host is None else User.from_model(host, viewer_id=info.context.viewer_id),
    )


def _given(input: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The Maybe fields a client set, by the model's attribute names."""
    return {n: getattr(input, n).value for n in names if getattr(input, n) is not None}


_UPDATABLE = (
    "title",
    "description",
    "visibility",
    "max_members",
    "require_approval",
    "control_policy",
    "chat_enabled",
    "reactions_enabled",
    "wait_for_buffering",
    "buffering_timeout_seconds",
    "poll_policy",
    "max_screen_shares",
    "scheduled_start",
)


@strawberry.type
class PartyQueries:
    @strawberry.field(
        description="A party by id; null when it does not exist or the viewer cannot see it "
        "(a PRIVATE party is visible to its members only)."
    )
    async def party(self, info: Info, id: strawberry.ID) -> Party | None:
        async with info.context.state.sessionmaker() as session:
            try:
                access = await load_party(session, id, info.context.viewer_id)
            except NotFoundProblem:
                return None
        return Party.from_model(access.party)

    @strawberry.field(
        description="A preview of the party with this room code (any visibility: the code is "
        "the secret); null for an unknown code."
    )
    async def party_by_code(self, info: Info, code: str) -> PartyPreview | None:
        async with info.context.state.sessionmaker() as session:
            try:
                party = await service.party_by_code(session, code[:64])
            except NotFoundProblem:
                return None
        return await _preview(info, party)

    @strawberry.field(
        description="Parties the viewer is an active member of, newest first (page size at "
        "most 100); null when anonymous."
    )
    async def my_parties(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> PartyConnection | None:
        viewer = await info.context.viewer()
        if viewer is None:
            return None
        async with info.context.state.sessionmaker() as session:
            with paging_errors(info):
                return await listing.my_parties(session, viewer.id, first, after)

    @strawberry.field(
        description="PUBLIC parties, newest first (page size at most 100), optionally of one "
        "status."
    )
    async def public_parties(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        status: PartyStatus | None = None,
    ) -> PartyConnection:
        async with info.context.state.sessionmaker() as session:
            with paging_errors(info):
                return await listing.public_parties(session, status, first, after)


@strawberry.type
class PartyMutations:
    @strawberry.mutation(description="Create a party; the viewer becomes its host.")
    @returns_party_errors
    async def create_party(self, info: Info, input: CreatePartyInput) -> CreatePartyResult:
        viewer = await info.context.require_viewer()
        media = input.media
        async with info.context.state.unit_of_work() as uow:
            party = await service.create_party(
                uow,
                viewer.id,
                title=input.title,
                description=input.description,
                visibility=input.visibility,
                max_members=input.max_members,
                require_approval=input.require_approval,
                control_policy=input.control_policy,
                chat_enabled=input.chat_enabled,
                reactions_enabled=input.reactions_enabled,
                wait_for_buffering=input.wait_for_buffering,
                buffering_timeout_seconds=input.buffering_timeout_seconds,
                poll_policy=input.poll_policy,
                max_screen_shares=input.max_screen_shares,
                scheduled_start=input.scheduled_start,
                media=None
                if media is None
                else service.Media(
                    url=media.url,
                    video_id=None if media.video_id is None else str(media.video_id),
                    title=media.title,
                    duration_seconds=media.duration_seconds,
                ),
            )
        return PartyPayload(party=Party.from_model(party, viewer))

    @strawberry.mutation(description="Change a party's details or settings (host, co-hosts).")
    @returns_party_errors
    async def update_party(self, info: Info, input: UpdatePartyInput) -> UpdatePartyResult:
        changes = _given(input, _UPDATABLE)
        party = await _apply(info, service.update_party, input.party_id, changes)
        return PartyPayload(party=Party.from_model(party))

    @strawberry.mutation(description="Delete a party (host only); every open stream ends.")
    @returns_party_errors
    async def delete_party(self, info: Info, input: DeletePartyInput) -> DeletePartyResult:
        party_id = await _apply(info, service.delete_party, input.party_id)
        return DeletePartyPayload(party_id=strawberry.ID(str(party_id)))

    @strawberry.mutation(description="Start a SCHEDULED party now (host, co-hosts).")
    @returns_party_errors
    async def start_party(self, info: Info, input: StartPartyInput) -> StartPartyResult:
        party = await _apply(info, service.start_party, input.party_id)
        return PartyPayload(party=Party.from_model(party))

    @strawberry.mutation(description="End a party for everybody (host, co-hosts).")
    @returns_party_errors
    async def end_party(self, info: Info, input: EndPartyInput) -> EndPartyResult:
        party = await _apply(info, service.end_party, input.party_id)
        return PartyPayload(party=Party.from_model(party))

    @strawberry.mutation(
        description="Join by id (PUBLIC parties), room code or invite token. With approval "
        "required (and no invite) the answer is JoinPending."
    )
    @returns_party_errors
    async def join_party(self, info: Info, input: JoinPartyInput) -> JoinPartyResult:
        joined = await _apply(
            info,
            joining.join_party,
            party_id=None if input.party_id is None else str(input.party_id),
            code=None if input.code is None else input.code[:64],
            invite_token=input.invite_token,
        )
        member = await _member(info, joined.member)
        if joined.pending:
            return JoinPending(party=await _preview(info, joined.party), member=member)
        return JoinPartyPayload(party=Party.from_model(joined.party), member=member)

    @strawberry.mutation(
        description="Leave a party (or withdraw a pending request). A leaving host hands "
        "over to a co-host, else the longest-standing member; the party ends with nobody left."
    )
    @returns_party_errors
    async def leave_party(self, info: Info, input: LeavePartyInput) -> LeavePartyResult:
        party_id = await _apply(info, joining.leave_party, input.party_id)
        return LeavePartyPayload(party_id=strawberry.ID(str(party_id)))

    @strawberry.mutation(description="Let a pending requester in (moderators and above).")
    @returns_party_errors
    async def approve_member(self, info: Info, input: ApproveMemberInput) -> ApproveMemberResult:
        row = await _apply(info, joining.approve_member, input.party_id, input.user_id)
        return PartyMemberPayload(member=await _member(info, row))

    @strawberry.mutation(description="Turn a pending request down (moderators and above).")
    @returns_party_errors
    async def reject_member(self, info: Info, input: RejectMemberInput) -> RejectMemberResult:
        row = await _apply(info, joining.reject_member, input.party_id, input.user_id)
        return _removed(row.party_id, row.user_id)

    @strawberry.mutation(description="Make a member a COHOST, MODERATOR or MEMBER (host only).")
    @returns_party_errors
    async def set_member_role(self, info: Info, input: SetMemberRoleInput) -> SetMemberRoleResult:
        row = await _apply(info, hosting.set_member_role, input.party_id, input.user_id, input.role)
        return PartyMemberPayload(member=await _member(info, row))

    @strawberry.mutation(description="Hand hosting to a member; the old host becomes a COHOST.")
    @returns_party_errors
    async def transfer_host(self, info: Info, input: TransferHostInput) -> TransferHostResult:
        party, old, new = await _apply(info, hosting.transfer_host, input.party_id, input.user_id)
        return TransferHostPayload(
            party=Party.from_model(party),
            host=await _member(info, new),
            previous_host=await _member(info, old),
        )

    @strawberry.mutation(
        description="Remove a member of a lower role (moderators and above); they may rejoin."
    )
    @returns_party_errors
    async def kick_member(self, info: Info, input: KickMemberInput) -> KickMemberResult:
        user_id = await _apply(
            info, moderation.kick_member, input.party_id, input.user_id, reason=input.reason
        )
        return _removed(uuid.UUID(str(input.party_id)), user_id)

    @strawberry.mutation(
        description="Ban someone (moderators and above, lower roles only) until a time, or "
        "for good when `until` is null."
    )
    @returns_party_errors
    async def ban_member(self, info: Info, input: BanMemberInput) -> BanMemberResult:
        row = await _apply(
            info,
            moderation.ban_member,
            input.party_id,
            input.user_id,
            input.until,
            reason=input.reason,
        )
        return PartyMemberPayload(member=await _member(info, row))

    @strawberry.mutation(description="Lift a ban (moderators and above); they may join again.")
    @returns_party_errors
    async def unban_member(self, info: Info, input: UnbanMemberInput) -> UnbanMemberResult:
        row = await _apply(
            info, moderation.unban_member, input.party_id, input.user_id, reason=input.reason
        )
        return PartyMemberPayload(member=await _member(info, row))

    @strawberry.mutation(
        description="Create an invite link (host, co-hosts). The token and URL are shown once."
    )
    @returns_party_errors
    async def create_invite_link(
        self, info: Info, input: CreateInviteLinkInput
    ) -> CreateInviteLinkResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            new = await invites.create_invite_link(
                uow,
                viewer.id,
                input.party_id,
                expires_in_hours=input.expires_in_hours,
                max_uses=input.max_uses,
            )
        return CreateInviteLinkPayload(
            invite_link=InviteLink.from_model(new.link),
            token=new.token,
            url=invites.invite_url(info.context.state.settings.frontend_url, new.token),
        )

    @strawberry.mutation(description="Revoke an invite link (host, co-hosts).")
    @returns_party_errors
    async def revoke_invite_link(
        self, info: Info, input: RevokeInviteLinkInput
    ) -> RevokeInviteLinkResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            link = await invites.revoke_invite_link(uow, viewer.id, input.invite_link_id)
        return RevokeInviteLinkPayload(invite_link=InviteLink.from_model(link))


async def _apply(info: Info, change: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run one membership or lifecycle change for the signed-in viewer in one unit of work (the
    party events it records publish after the commit)."""
    viewer = await info.context.require_viewer()
    async with info.context.state.unit_of_work() as uow:
        return await change(uow, viewer.id, *args, **kwargs)


def _removed(party_id: uuid.UUID, user_id: uuid.UUID) -> MemberRemovedPayload:
    return MemberRemovedPayload(
        party_id=strawberry.ID(str(party_id)), user_id=strawberry.ID(str(user_id))
    )


__all__ = ["NotAuthenticatedProblem", "PartyMutations", "PartyQueries", "Problem"]
