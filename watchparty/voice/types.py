"""GraphQL types of voice, screen share, signaling and ICE servers; the error mapping.

`Party.voiceParticipants` and `Party.screenShares` (`participants_for_party`, `shares_for_party`)
are for whoever may follow the party stream (`parties.authz.may_read_content`, checked by the
`Party` fields); anybody else reads an empty list. They list active members only: an entry left
behind by someone who is no longer a member is never shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.errors import errors_mapped_by
from watchparty.parties.error_types import to_party_error
from watchparty.parties.loaders import party_loaders_of
from watchparty.parties.models import MemberStatus
from watchparty.voice.ice import IceServerConfig
from watchparty.voice.signals import SignalKind, SignalMessage
from watchparty.voice.store import ScreenShare as ShareState
from watchparty.voice.store import VoiceState

strawberry.enum(SignalKind, description="The WebRTC negotiation message a signal carries.")


# -- objects ------------------------------------------------------------------------------------


@strawberry.type(description="A member in the party's voice room.")
class VoiceParticipant:
    user: User
    muted: bool
    speaking: bool
    joined_at: datetime = strawberry.field(description="When they joined voice.")


@strawberry.type(description="A member sharing a screen.")
class ScreenShare:
    user: User
    started_at: datetime


@strawberry.type(description="A WebRTC signaling message from another member, to you only.")
class Signal:
    from_user_id: strawberry.ID
    kind: SignalKind
    payload: JSON = strawberry.field(
        description="The JSON object the sender sent (an SDP description or ICE candidate), "
        "untouched."
    )
    sent_at: datetime

    @classmethod
    def from_message(cls, message: SignalMessage) -> Signal:
        return cls(
            from_user_id=strawberry.ID(message.from_user_id),
            kind=message.kind,
            payload=JSON(message.payload),
            sent_at=message.sent_at,
        )


@strawberry.type(description="One entry of RTCConfiguration.iceServers.")
class IceServer:
    urls: list[str]
    username: str | None = strawberry.field(description="TURN only.")
    credential: str | None = strawberry.field(description="TURN only; time-limited.")
    credential_expires_at: datetime | None = strawberry.field(
        description="TURN only: fetch iceServers again before this."
    )

    @classmethod
    def from_config(cls, config: IceServerConfig) -> IceServer:
        return cls(
            urls=config.urls,
            username=config.username,
            credential=config.credential,
            credential_expires_at=config.credential_expires_at,
        )


# -- inputs and payloads ------------------------------------------------------------------------


@strawberry.input
class VoicePartyInput:
    party_id: strawberry.ID


@strawberry.input
class SetVoiceStateInput:
    party_id: strawberry.ID
    muted: bool | None = strawberry.field(default=None, description="Omitted: unchanged.")
    speaking: bool | None = strawberry.field(
        default=None, description="Omitted: unchanged. Muted members never count as speaking."
    )


@strawberry.input
class SendSignalInput:
    party_id: strawberry.ID
    to_user_id: strawberry.ID
    kind: SignalKind
    payload: JSON = strawberry.field(
        description="A JSON object, opaque to the server: `RTCSessionDescription.toJSON()` "
        "(OFFER, ANSWER) or `RTCIceCandidate.toJSON()` (ICE_CANDIDATE). At most 16 KB of UTF-8 "
        "as compact JSON and 8 levels deep; anything else is a ValidationError on `payload`."
    )


@strawberry.type
class VoiceParticipantPayload:
    party_id: strawberry.ID
    participant: VoiceParticipant


@strawberry.type
class LeaveVoicePayload:
    party_id: strawberry.ID


@strawberry.type
class ScreenSharePayload:
    party_id: strawberry.ID
    screen_share: ScreenShare


@strawberry.type
class StopScreenSharePayload:
    party_id: strawberry.ID


@strawberry.type
class SendSignalPayload:
    to_user_id: strawberry.ID
    kind: SignalKind
    sent_at: datetime


# -- building from the store ----------------------------------------------------------------------


async def _user(info: Info, user_id: uuid.UUID) -> User | None:
    user = await user_loader_of(info.context.loaders).load(user_id)
    return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)


async def participant(info: Info, state: VoiceState) -> VoiceParticipant:
    user = await _user(info, state.user_id)
    assert user is not None  # the acting member
    return VoiceParticipant(
        user=user, muted=state.muted, speaking=state.speaking, joined_at=state.joined_at
    )


async def screen_share(info: Info, share: ShareState) -> ScreenShare:
    user = await _user(info, share.user_id)
    assert user is not None  # the acting member
    return ScreenShare(user=user, started_at=share.started_at)


async def _active_users(
    info: Info, party_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, User]:
    """The users of `ids` who are active members of the party (two batched reads)."""
    loaders = info.context.loaders
    rows = await party_loaders_of(loaders).membership.load_many([(party_id, u) for u in ids])
    active = [r.user_id for r in rows if r is not None and r.status is MemberStatus.ACTIVE]
    users = await user_loader_of(loaders).load_many(active)
    viewer_id = info.context.viewer_id
    return {
        user.id: User.from_model(user, viewer_id=viewer_id) for user in users if user is not None
    }


async def participants_for_party(info: Info, party_id: uuid.UUID) -> list[VoiceParticipant]:
    from watchparty.voice.service import voice_participants

    states = await voice_participants(info.context.state, party_id)
    users = await _active_users(info, party_id, [s.user_id for s in states])
    return [
        VoiceParticipant(
            user=users[s.user_id], muted=s.muted, speaking=s.speaking, joined_at=s.joined_at
        )
        for s in states
        if s.user_id in users
    ]


async def shares_for_party(info: Info, party_id: uuid.UUID) -> list[ScreenShare]:
    from watchparty.voice.service import screen_shares

    shares = await screen_shares(info.context.state, party_id)
    users = await _active_users(info, party_id, [s.user_id for s in shares])
    return [
        ScreenShare(user=users[s.user_id], started_at=s.started_at)
        for s in shares
        if s.user_id in users
    ]


# -- errors -----------------------------------------------------------------------------------

returns_voice_errors = errors_mapped_by(to_party_error)
