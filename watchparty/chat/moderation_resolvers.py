"""Moderation mutations: muteMember, unmuteMember, setSlowMode, hideMessage, unhideMessage.
Thin: unpack the input, call the service in one unit of work, map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry

from watchparty.chat import moderation
from watchparty.chat.moderation_types import (
    HideMessageInput,
    MemberMute,
    MuteMemberInput,
    MuteMemberPayload,
    SetSlowModeInput,
    SetSlowModePayload,
    UnhideMessageInput,
    UnmuteMemberInput,
    UnmuteMemberPayload,
    returns_moderation_errors,
)
from watchparty.chat.types import ChatMessage, ChatMessagePayload
from watchparty.context import Info
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    ValidationError,
)
from watchparty.parties.types import Party

_Base = ValidationError | NotAuthenticated | NotAllowed | NotFound
MuteMemberResult = Annotated[
    MuteMemberPayload | _Base | PartyEndedError, strawberry.union("MuteMemberResult")
]
UnmuteMemberResult = Annotated[
    UnmuteMemberPayload | _Base | PartyEndedError, strawberry.union("UnmuteMemberResult")
]
SetSlowModeResult = Annotated[
    SetSlowModePayload | _Base | PartyEndedError, strawberry.union("SetSlowModeResult")
]
HideMessageResult = Annotated[
    ChatMessagePayload | _Base | PartyEndedError, strawberry.union("HideMessageResult")
]

T = TypeVar("T")


async def _apply(info: Info, change: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run one moderation change for the signed-in viewer in one unit of work (the party events
    it records publish after the commit)."""
    viewer = await info.context.require_viewer()
    async with info.context.state.unit_of_work() as uow:
        return await change(uow, viewer.id, *args)


def _message(payload: dict[str, Any]) -> ChatMessagePayload:
    return ChatMessagePayload(message=ChatMessage.from_payload(payload))


@strawberry.type
class ModerationQueries:
    pass


@strawberry.type
class ModerationMutations:
    @strawberry.mutation(
        description="Stop a member of a lower role from posting chat messages (moderators and "
        "above) until `until`, or until unmuted when null. Survives leaving and rejoining."
    )
    @returns_moderation_errors
    async def mute_member(self, info: Info, input: MuteMemberInput) -> MuteMemberResult:
        mute = await _apply(
            info, moderation.mute_member, input.party_id, input.user_id, input.until, input.reason
        )
        return MuteMemberPayload(mute=MemberMute.from_model(mute))

    @strawberry.mutation(description="Lift a mute (moderators and above, lower roles only).")
    @returns_moderation_errors
    async def unmute_member(self, info: Info, input: UnmuteMemberInput) -> UnmuteMemberResult:
        party_id, user_id = await _apply(
            info, moderation.unmute_member, input.party_id, input.user_id, input.reason
        )
        return UnmuteMemberPayload(
            party_id=strawberry.ID(str(party_id)), user_id=strawberry.ID(str(user_id))
        )

    @strawberry.mutation(
        description="Seconds a member waits between chat messages, 0 (off) to 3600 "
        "(moderators and above; they are exempt). Publishes PartyUpdated."
    )
    @returns_moderation_errors
    async def set_slow_mode(self, info: Info, input: SetSlowModeInput) -> SetSlowModeResult:
        party = await _apply(info, moderation.set_slow_mode, input.party_id, input.seconds)
        return SetSlowModePayload(party=Party.from_model(party))

    @strawberry.mutation(
        description="Hide a message of a lower role (moderators and above): its body reads null "
        "for everybody. Publishes ChatMessageUpdated."
    )
    @returns_moderation_errors
    async def hide_message(self, info: Info, input: HideMessageInput) -> HideMessageResult:
        payload = await _apply(
            info, moderation.set_message_hidden, input.message_id, True, input.reason
        )
        return _message(payload)

    @strawberry.mutation(description="Show a hidden message again (moderators and above).")
    @returns_moderation_errors
    async def unhide_message(self, info: Info, input: UnhideMessageInput) -> HideMessageResult:
        payload = await _apply(info, moderation.set_message_hidden, input.message_id, False)
        return _message(payload)
