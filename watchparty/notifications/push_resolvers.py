"""Push queries and mutations: `registerPushToken`, `unregisterPushToken`, `myPushDevices`
(signed-in only; only the viewer's own devices) and `pushConfig` (public). Thin: unpack, call
one service function, map the result."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.cache_hints import CONFIG_MAX_AGE, public_cache
from watchparty.gql.errors import NotAuthenticated, NotFound, ValidationError, returns_errors
from watchparty.gql.pagination import not_signed_in
from watchparty.notifications import push_devices
from watchparty.notifications.push_types import (
    PushConfig,
    PushDevice,
    RegisterPushTokenInput,
    RegisterPushTokenPayload,
    UnregisterPushTokenInput,
    UnregisterPushTokenPayload,
)

RegisterPushTokenResult = Annotated[
    RegisterPushTokenPayload | NotAuthenticated | ValidationError,
    strawberry.union("RegisterPushTokenResult"),
]
UnregisterPushTokenResult = Annotated[
    # ValidationError: text that is not valid Unicode (`gql.inputs`); any other unknown token is
    # NotFound.
    UnregisterPushTokenPayload | NotAuthenticated | NotFound | ValidationError,
    strawberry.union("UnregisterPushTokenResult"),
]


@strawberry.type
class PushQueries:
    @strawberry.field(
        description="The viewer's push devices, most recently seen first (an error "
        "NOT_AUTHENTICATED when anonymous)."
    )
    async def my_push_devices(self, info: Info) -> list[PushDevice]:
        ctx = info.context
        viewer = await ctx.viewer()
        if viewer is None or ctx.claims is None:
            raise not_signed_in(info)
        async with ctx.state.sessionmaker() as session:
            rows = await push_devices.list_devices(session, viewer.id)
        return [PushDevice.from_row(row, ctx.claims.session_id) for row in rows]

    @strawberry.field(
        description="Whether the server sends pushes, and Firebase's public web config for "
        "obtaining a token. No sign-in needed.",
        metadata=public_cache(CONFIG_MAX_AGE),
    )
    def push_config(self, info: Info) -> PushConfig:
        return PushConfig.from_settings(info.context.state.settings)


@strawberry.type
class PushMutations:
    @strawberry.mutation(
        description="Register this device's FCM token for the viewer (idempotent; a token "
        "registered by another account moves to this one; past the cap per user the least "
        "recently seen device is dropped). Signing out of this sign-in unregisters it."
    )
    @returns_errors
    async def register_push_token(
        self, info: Info, input: RegisterPushTokenInput
    ) -> RegisterPushTokenResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        session_id = None if ctx.claims is None else ctx.claims.session_id
        async with ctx.state.unit_of_work() as uow:
            device = await push_devices.register_device(
                uow, viewer.id, session_id, input.token, input.platform, input.device_name
            )
        return RegisterPushTokenPayload(device=PushDevice.from_row(device, session_id))

    @strawberry.mutation(description="Stop pushing to one of the viewer's tokens.")
    @returns_errors
    async def unregister_push_token(
        self, info: Info, input: UnregisterPushTokenInput
    ) -> UnregisterPushTokenResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            removed = await push_devices.unregister_device(uow, viewer.id, input.token)
        return UnregisterPushTokenPayload(device_id=strawberry.ID(str(removed)))
