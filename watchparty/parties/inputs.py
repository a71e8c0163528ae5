"""Inputs and success payloads of the party mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from watchparty.parties.member_types import InviteLink, PartyMember
from watchparty.parties.models import (
    DEFAULT_BUFFERING_TIMEOUT_SECONDS,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_SCREEN_SHARES,
    ControlPolicy,
    MemberRole,
    PartyVisibility,
    PollPolicy,
)
from watchparty.parties.types import Party, PartyPreview


@strawberry.input(description="What to play: exactly one of a URL or a library video.")
class MediaInput:
    url: str | None = strawberry.field(
        default=None,
        description="A link a streaming provider plays (YouTube, Vimeo, Twitch, a direct .mp4 "
        "or .m3u8; see clientConfig.providers), at most 2048 characters.",
    )
    video_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A READY library video you may see (yours, or PUBLIC or UNLISTED).",
    )
    title: str | None = strawberry.field(
        default=None, description="At most 240 characters; defaults to one made from the URL."
    )
    duration_seconds: float | None = strawberry.field(
        default=None, description="When known: the queue advances when the item ends."
    )


@strawberry.input
class CreatePartyInput:
    title: str = strawberry.field(description="1-120 characters.")
    description: str | None = strawberry.field(default=None, description="At most 2000.")
    visibility: PartyVisibility = PartyVisibility.PUBLIC
    max_members: int | None = strawberry.field(
        default=None,
        description=f"2..1000; left out: {DEFAULT_MAX_MEMBERS}, or the host's plan's limit when "
        "lower (above the plan: PlanLimitExceeded).",
    )
    require_approval: bool = False
    control_policy: ControlPolicy = ControlPolicy.HOST_ONLY
    chat_enabled: bool = True
    reactions_enabled: bool = True
    wait_for_buffering: bool = True
    buffering_timeout_seconds: int = strawberry.field(
        default=DEFAULT_BUFFERING_TIMEOUT_SECONDS, description="1..60."
    )
    poll_policy: PollPolicy = PollPolicy.MODERATORS
    max_screen_shares: int = strawberry.field(
        default=DEFAULT_MAX_SCREEN_SHARES, description="1..10 members sharing a screen at once."
    )
    scheduled_start: datetime | None = strawberry.field(
        default=None,
        description="In the future: the party is SCHEDULED until startParty; otherwise LIVE.",
    )
    media: MediaInput | None = strawberry.field(
        default=None, description="The first queue item (becomes the current item, paused)."
    )


@strawberry.input(
    description="Only the fields given change. Null clears description and scheduledStart; "
    "for the other fields it is a ValidationError (leave the field out to keep it)."
)
class UpdatePartyInput:
    # `Maybe[X | None]`, not `Maybe[X]`: the schema says these fields are nullable, and
    # Strawberry answers an explicit null for a `Maybe[X]` with an exception, not an error a
    # client can act on. The service rejects null where the setting cannot be empty.
    party_id: strawberry.ID
    title: strawberry.Maybe[str | None] = None
    description: strawberry.Maybe[str | None] = None
    visibility: strawberry.Maybe[PartyVisibility | None] = None
    max_members: strawberry.Maybe[int | None] = None
    require_approval: strawberry.Maybe[bool | None] = None
    control_policy: strawberry.Maybe[ControlPolicy | None] = None
    chat_enabled: strawberry.Maybe[bool | None] = None
    reactions_enabled: strawberry.Maybe[bool | None] = None
    wait_for_buffering: strawberry.Maybe[bool | None] = None
    buffering_timeout_seconds: strawberry.Maybe[int | None] = None
    poll_policy: strawberry.Maybe[PollPolicy | None] = None
    max_screen_shares: strawberry.Maybe[int | None] = None
    scheduled_start: strawberry.Maybe[datetime | None] = strawberry.field(
        default=None, description="Only while SCHEDULED; must be in the future."
    )


@strawberry.input
class DeletePartyInput:
    party_id: strawberry.ID


@strawberry.input
class StartPartyInput:
    party_id: strawberry.ID


@strawberry.input
class EndPartyInput:
    party_id: strawberry.ID


@strawberry.input(description="Exactly one of partyId (PUBLIC parties), code or inviteToken.")
class JoinPartyInput:
    party_id: strawberry.ID | None = None
    code: str | None = None
    invite_token: str | None = None


@strawberry.input
class LeavePartyInput:
    party_id: strawberry.ID


@strawberry.input
class ApproveMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class RejectMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class SetMemberRoleInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    role: MemberRole = strawberry.field(description="COHOST, MODERATOR or MEMBER.")


@strawberry.input
class TransferHostInput:
    party_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class KickMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    reason: str | None = strawberry.field(
        default=None, description="Shown in the moderation log (at most 500 characters)."
    )


@strawberry.input
class BanMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    until: datetime | None = strawberry.field(default=None, description="Null: for good.")
    reason: str | None = strawberry.field(
        default=None, description="Shown in the moderation log (at most 500 characters)."
    )


@strawberry.input
class UnbanMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    reason: str | None = strawberry.field(
        default=None, description="Shown in the moderation log (at most 500 characters)."
    )


@strawberry.input
class CreateInviteLinkInput:
    party_id: strawberry.ID
    expires_in_hours: int | None = strawberry.field(
        default=24, description="1..720; null: the link never expires."
    )
    max_uses: int | None = strawberry.field(default=None, description="1..10000; null: unlimited.")


@strawberry.input
class RevokeInviteLinkInput:
    invite_link_id: strawberry.ID


@strawberry.type(
    description="A party as a host or co-host changed it (createParty, updateParty, startParty, "
    "endParty)."
)
class PartyPayload:
    party: Party

    @strawberry.field(
        description="The room code, `party.code` typed as what it always is here: only hosts "
        "and co-hosts receive this payload, and members always see the code (`Party.code` is "
        "null only for non-members of UNLISTED and PRIVATE parties). Not named `code`: that "
        "would clash with `UserError.code` in the same selection."
    )
    def party_code(self) -> str:
        return self.party._code


@strawberry.type
class DeletePartyPayload:
    party_id: strawberry.ID


@strawberry.type(description="The viewer is an active member now.")
class JoinPartyPayload:
    party: Party
    member: PartyMember


@strawberry.type(description="The request waits for a host, co-host or moderator to approve.")
class JoinPending:
    party: PartyPreview
    member: PartyMember


@strawberry.type
class LeavePartyPayload:
    party_id: strawberry.ID


@strawberry.type
class PartyMemberPayload:
    member: PartyMember


@strawberry.type(description="The user is no longer a member (or no longer asking to be).")
class MemberRemovedPayload:
    party_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class TransferHostPayload:
    party: Party
    host: PartyMember
    previous_host: PartyMember


@strawberry.type(description="`token` and `url` are shown only this once.")
class CreateInviteLinkPayload:
    invite_link: InviteLink
    token: str
    url: str


@strawberry.type
class RevokeInviteLinkPayload:
    invite_link: InviteLink
