"""Query and Mutation fields for accounts. Thin: unpack, call the service, map."""

from __future__ import annotations

from typing import Annotated

import strawberry
from starlette.responses import Response

from watchparty.accounts import service
from watchparty.accounts.types import AuthPayload, LoginInput, RegisterInput, User
from watchparty.context import Context, Info
from watchparty.gql.errors import (
    Conflict,
    InvalidCredentials,
    RateLimited,
    ValidationError,
    returns_errors,
)
from watchparty.http.cookies import set_refresh_cookie

RegisterResult = Annotated[
    AuthPayload | ValidationError | Conflict | RateLimited, strawberry.union("RegisterResult")
]
LoginResult = Annotated[
    AuthPayload | InvalidCredentials | RateLimited | ValidationError, strawberry.union("LoginResult")
]


def _client(ctx: Context) -> service.Client:
    return service.Client(ip=ctx.client_ip, user_agent=ctx.user_agent)


def _signed_in(ctx: Context, signed: service.SignIn) -> AuthPayload:
    """Issue the access token and set the refresh cookie (HTTP only; a socket has no cookies)."""
    access = ctx.state.access_tokens.issue(signed.user.id, signed.family.id)
    if isinstance(ctx.response, Response):
        set_refresh_cookie(ctx.response, ctx.state.settings, signed.refresh_token)
    return AuthPayload(
        access_token=access.token,
        access_token_expires_at=access.expires_at,
        user=User.from_model(signed.user, viewer_id=signed.user.id),
    )


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in user, or null when anonymous.")
    async def me(self, info: Info) -> User | None:
        user = await info.context.viewer()
        return None if user is None else User.from_model(user, viewer_id=user.id)


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create an account and sign in. Sets the refresh cookie.")
    @returns_errors
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        ctx = info.context
        async with ctx.state.unit_of_work() as uow:
            signed = await service.register(
                uow.session, ctx.state.settings, ctx.state.limiter, _client(ctx),
                email=input.email, password=input.password, display_name=input.display_name,
            )
        return _signed_in(ctx, signed)

    @strawberry.mutation(description="Sign in with email and password. Sets the refresh cookie.")
    @returns_errors
    async def login(self, info: Info, input: LoginInput) -> LoginResult:
        ctx = info.context
        async with ctx.state.unit_of_work() as uow:
            signed = await service.login(
                uow.session, ctx.state.settings, ctx.state.limiter, _client(ctx),
                email=input.email, password=input.password,
            )
        return _signed_in(ctx, signed)
