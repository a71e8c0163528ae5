"""Query, Mutation and Subscription fields of voice, screen share and signaling. Thin: unpack the
input, call one service function, map the result (see `parties.playback_resolvers`).

Nothing here writes the database; each mutation still reads through one unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.errors import (
    Conflict,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    PlanLimitExceeded,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
)
from watchparty.gql.pagination import not_signed_in
from watchparty.voice import service
from watchparty.voice import signals as signaling
from watchparty.voice.ice import ice_servers
from watchparty.voice.types import (
    IceServer,
    LeaveVoicePayload,
    ScreenSharePayload,
    SendSignalInput,
    SendSignalPayload,
    SetVoiceStateInput,
    Signal,
    StopScreenSharePayload,
    VoiceParticipantPayload,
    VoicePartyInput,
    participant,
    returns_voice_errors,
    screen_share,
)

# Voice rooms and signals live in Redis only: while it is unavailable these answer
# ServiceUnavailable (retryable) rather than pretend.
JoinVoiceResult = Annotated[
    VoiceParticipantPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | PartyEndedError
    | ServiceUnavailable
    | ValidationError,
    strawberry.union("JoinVoiceResult"),
]
LeaveVoiceResult = Annotated[
    LeaveVoicePayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ServiceUnavailable
    | ValidationError,
    strawberry.union("LeaveVoiceResult"),
]
SetVoiceStateResult = Annotated[
    VoiceParticipantPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | Conflict
    | RateLimited
    | ServiceUnavailable
    | PartyEndedError
    | ValidationError,
    strawberry.union("SetVoiceStateResult"),
]
StartScreenShareResult = Annotated[
    ScreenSharePayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | Conflict
    | PlanLimitExceeded
    | PartyEndedError
    | ServiceUnavailable
    | ValidationError,
    strawberry.union("StartScreenShareResult"),
]
StopScreenShareResult = Annotated[
    StopScreenSharePayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ServiceUnavailable
    | ValidationError,
    strawberry.union("StopScreenShareResult"),
]
SendSignalResult = Annotated[
    SendSignalPayload
    | NotAuthenticated
    | NotAllowed
    | NotFound
    | ValidationError
    | RateLimited
    | ServiceUnavailable
    | PartyEndedError,
    strawberry.union("SendSignalResult"),
]


@strawberry.type
class VoiceQueries:
    @strawberry.field(
        description="ICE servers for RTCPeerConnection: STUN, and TURN with credentials valid "
        "until `credentialExpiresAt`. Signed-in users only (otherwise an error with "
        "`extensions.code` NOT_AUTHENTICATED)."
    )
    async def ice_servers(self, info: Info) -> list[IceServer]:
        viewer = await info.context.viewer()
        if viewer is None:
            raise not_signed_in(info)
        return [
            IceServer.from_config(s) for s in ice_servers(info.context.state.settings, viewer.id)
        ]


@strawberry.type
class VoiceMutations:
    @strawberry.mutation(
        description="Enter the party's voice room (unmuted, not speaking); again: no change. "
        "Active members only."
    )
    @returns_voice_errors
    async def join_voice(self, info: Info, input: VoicePartyInput) -> JoinVoiceResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            party_id, state = await service.join_voice(uow, viewer.id, input.party_id)
        return VoiceParticipantPayload(
            party_id=strawberry.ID(str(party_id)), participant=await participant(info, state)
        )

    @strawberry.mutation(description="Leave the voice room (not being in it is no error).")
    @returns_voice_errors
    async def leave_voice(self, info: Info, input: VoicePartyInput) -> LeaveVoiceResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            party_id = await service.leave_voice(uow, viewer.id, input.party_id)
        return LeaveVoicePayload(party_id=strawberry.ID(str(party_id)))

    @strawberry.mutation(
        description="Set muted and/or speaking while in voice (Conflict otherwise). Only real "
        "changes are announced; rate limited per member like sendSignal."
    )
    @returns_voice_errors
    async def set_voice_state(self, info: Info, input: SetVoiceStateInput) -> SetVoiceStateResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            party_id, state = await service.set_voice_state(
                uow, viewer.id, input.party_id, input.muted, input.speaking
            )
        return VoiceParticipantPayload(
            party_id=strawberry.ID(str(party_id)), participant=await participant(info, state)
        )

    @strawberry.mutation(
        description="Start sharing a screen; Conflict when the party's maxScreenShares members "
        "already share, PlanLimitExceeded when its host's plan allows fewer screen shares. "
        "Again while sharing: no change."
    )
    @returns_voice_errors
    async def start_screen_share(
        self, info: Info, input: VoicePartyInput
    ) -> StartScreenShareResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            party_id, share = await service.start_screen_share(uow, viewer.id, input.party_id)
        return ScreenSharePayload(
            party_id=strawberry.ID(str(party_id)), screen_share=await screen_share(info, share)
        )

    @strawberry.mutation(description="Stop sharing (not sharing is no error).")
    @returns_voice_errors
    async def stop_screen_share(self, info: Info, input: VoicePartyInput) -> StopScreenShareResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            party_id = await service.stop_screen_share(uow, viewer.id, input.party_id)
        return StopScreenSharePayload(party_id=strawberry.ID(str(party_id)))

    @strawberry.mutation(
        description="Relay a WebRTC signal to one other active member's `signals` stream (not "
        "stored: delivered only if they listen now). Payload: a JSON object of at most 16 KB."
    )
    @returns_voice_errors
    async def send_signal(self, info: Info, input: SendSignalInput) -> SendSignalResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            message = await signaling.send_signal(
                uow,
                viewer.id,
                input.party_id,
                input.to_user_id,
                input.kind,
                input.payload,
            )
        return SendSignalPayload(
            to_user_id=input.to_user_id, kind=message.kind, sent_at=message.sent_at
        )


@strawberry.type
class VoiceSubscriptions:
    @strawberry.subscription(
        description="WebRTC signals sent to you in this party. Active members only: otherwise "
        "the stream ends with an error whose `extensions.code` is NOT_FOUND / "
        "NOT_AUTHENTICATED / NOT_ALLOWED. It completes when you leave, are kicked or banned; "
        "STREAM_OVERFLOW (fell behind) or STREAM_CLOSED (server shutting down): reconnect."
    )
    async def signals(self, info: Info, party_id: strawberry.ID) -> AsyncGenerator[Signal, None]:
        viewer = await info.context.viewer()
        stream = signaling.signal_stream(
            info.context.state, str(party_id), None if viewer is None else viewer.id
        )
        try:
            async for message in stream:
                yield Signal.from_message(message)
        finally:
            await stream.aclose()
