"""Query and Mutation fields for accounts. Thin: unpack, call the service, map."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry
from starlette.responses import Response

from watchparty.accounts import deletion, email_tokens, service, sessions
from watchparty.accounts.types import (
    AuthPayload,
    ChangePasswordInput,
    ChangePasswordPayload,
    DeleteAccountInput,
    DeleteAccountPayload,
    LoginInput,
    RegisterInput,
    RequestPasswordResetInput,
    RequestPasswordResetPayload,
    ResendVerificationEmailInput,
    ResendVerificationEmailPayload,
    ResetPasswordInput,
    ResetPasswordPayload,
    RevokeSessionInput,
    RevokeSessionPayload,
    SessionInfo,
    UpdateProfileInput,
    UpdateProfilePayload,
    User,
    VerifyEmailInput,
    VerifyEmailPayload,
)
from watchparty.context import Context, Info
from watchparty.db import UnitOfWork
from watchparty.errors import NotAuthenticated as NotAuthenticatedProblem
from watchparty.gql.errors import (
    Conflict,
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationError,
    returns_errors,
)
from watchparty.http.cookies import clear_refresh_cookie, set_refresh_cookie

RegisterResult = Annotated[
    AuthPayload | ValidationError | Conflict | RateLimited, strawberry.union("RegisterResult")
]
LoginResult = Annotated[
    AuthPayload | InvalidCredentials | RateLimited | ValidationError,
    strawberry.union("LoginResult"),
]
UpdateProfileResult = Annotated[
    UpdateProfilePayload | ValidationError | NotAuthenticated,
    strawberry.union("UpdateProfileResult"),
]
ChangePasswordResult = Annotated[
    ChangePasswordPayload | InvalidCredentials | ValidationError | NotAuthenticated | RateLimited,
    strawberry.union("ChangePasswordResult"),
]
RequestPasswordResetResult = Annotated[
    # ServiceUnavailable: its rate limits fail closed while Redis is away (kit/ratelimit.py)
    RequestPasswordResetPayload | ValidationError | RateLimited | ServiceUnavailable,
    strawberry.union("RequestPasswordResetResult"),
]
ResetPasswordResult = Annotated[
    ResetPasswordPayload | InvalidToken | ValidationError, strawberry.union("ResetPasswordResult")
]
VerifyEmailResult = Annotated[
    VerifyEmailPayload | InvalidToken | ValidationError, strawberry.union("VerifyEmailResult")
]
ResendVerificationEmailResult = Annotated[
    ResendVerificationEmailPayload
    | NotAuthenticated
    | RateLimited
    | Conflict
    | ServiceUnavailable
    | ValidationError,
    strawberry.union("ResendVerificationEmailResult"),
]
DeleteAccountResult = Annotated[
    DeleteAccountPayload | InvalidCredentials | ValidationError | NotAuthenticated | RateLimited,
    strawberry.union("DeleteAccountResult"),
]
RevokeSessionResult = Annotated[
    RevokeSessionPayload | NotFound | NotAuthenticated | ValidationError,
    strawberry.union("RevokeSessionResult"),
]


def _client(ctx: Context) -> service.Client:
    return service.Client(ip=ctx.client_ip, user_agent=ctx.user_agent)


def _given(value: strawberry.Maybe[str | None]) -> str | service.Keep | None:
    """A left-out optional input keeps the stored value; an explicit null is passed on."""
    return service.Keep.KEEP if value is None else value.value


_SignInRule = Callable[[UnitOfWork, service.Client], Awaitable[service.SignIn]]


async def _sign_in(ctx: Context, rule: _SignInRule) -> AuthPayload:
    """Run a sign-in rule (register, login) in one unit of work (its mail goes after the commit);
    then issue the access token and set the refresh cookie (HTTP only; a socket has no cookies)."""
    async with ctx.state.unit_of_work() as uow:
        signed = await rule(uow, _client(ctx))
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

    @strawberry.field(
        description="The viewer's active sign-ins, most recently used first (at most 100); "
        "null when anonymous."
    )
    async def sessions(self, info: Info) -> list[SessionInfo] | None:
        ctx = info.context
        user = await ctx.viewer()
        if user is None or ctx.claims is None:
            return None
        async with ctx.state.sessionmaker() as session:
            rows = await sessions.active_sessions(session, user.id)
        return [SessionInfo.from_model(r, current_id=ctx.claims.session_id) for r in rows]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Create an account and sign in. Sets the refresh cookie and mails a "
        "verification link."
    )
    @returns_errors
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        rule = functools.partial(
            service.register,
            email=input.email,
            password=input.password,
            display_name=input.display_name,
        )
        return await _sign_in(info.context, rule)

    @strawberry.mutation(description="Sign in with email and password. Sets the refresh cookie.")
    @returns_errors
    async def login(self, info: Info, input: LoginInput) -> LoginResult:
        rule = functools.partial(service.login, email=input.email, password=input.password)
        return await _sign_in(info.context, rule)

    @strawberry.mutation(description="Change the viewer's display name, avatar or bio.")
    @returns_errors
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfileResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            user = await service.update_profile(
                uow,
                viewer.id,
                display_name=_given(input.display_name),
                avatar_url=_given(input.avatar_url),
                bio=_given(input.bio),
            )
        return UpdateProfilePayload(user=User.from_model(user, viewer_id=user.id))

    @strawberry.mutation(description="Change the password; signs out every other session.")
    @returns_errors
    async def change_password(self, info: Info, input: ChangePasswordInput) -> ChangePasswordResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        if ctx.claims is None:
            raise NotAuthenticatedProblem()
        async with ctx.state.unit_of_work() as uow:
            user = await service.change_password(
                uow,
                viewer.id,
                current_session_id=ctx.claims.session_id,
                current_password=input.current_password,
                new_password=input.new_password,
            )
        return ChangePasswordPayload(user=User.from_model(user, viewer_id=user.id))

    @strawberry.mutation(
        description="Mail a password reset link. The answer is the same whether or not an "
        "account uses this address."
    )
    @returns_errors
    async def request_password_reset(
        self, info: Info, input: RequestPasswordResetInput
    ) -> RequestPasswordResetResult:
        ctx = info.context
        async with ctx.state.unit_of_work() as uow:
            await email_tokens.request_password_reset(uow, _client(ctx), email=input.email)
        return RequestPasswordResetPayload(ok=True)

    @strawberry.mutation(
        description="Set a new password with the token from the reset email. Works once; "
        "signs out every session and confirms the email address."
    )
    @returns_errors
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> ResetPasswordResult:
        ctx = info.context
        async with ctx.state.unit_of_work() as uow:
            await email_tokens.reset_password(uow, input.token, new_password=input.new_password)
        return ResetPasswordPayload(ok=True)

    @strawberry.mutation(description="Confirm the email address with the token from the email.")
    @returns_errors
    async def verify_email(self, info: Info, input: VerifyEmailInput) -> VerifyEmailResult:
        async with info.context.state.unit_of_work() as uow:
            user = await email_tokens.verify_email(uow, input.token)
        # Holding the mailed token proves the address, so the payload may show it.
        return VerifyEmailPayload(user=User.from_model(user, viewer_id=user.id))

    @strawberry.mutation(description="Mail the signed-in user a new verification link.")
    @returns_errors
    async def resend_verification_email(
        self, info: Info, input: ResendVerificationEmailInput | None = None
    ) -> ResendVerificationEmailResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            await email_tokens.resend_verification(uow, viewer.id)
        return ResendVerificationEmailPayload(
            ok=True, client_mutation_id=input.client_mutation_id if input else None
        )

    @strawberry.mutation(
        description="Sign out one of the viewer's sessions (its refresh and access tokens "
        "stop working)."
    )
    @returns_errors
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            revoked = await sessions.revoke_session(uow, viewer.id, str(input.session_id))
        return RevokeSessionPayload(session_id=strawberry.ID(str(revoked)))

    @strawberry.mutation(
        description="Delete the viewer's account for good: every sign-in ends (sockets close), "
        "the parties they are in are left (a hosted one is handed over, or ends with nobody "
        "left), their videos, notifications and subscription go, their analytics events are "
        "anonymized. A password account gives its password; a social-only one must have "
        "signed in within the last 10 minutes (else InvalidCredentials on `password`)."
    )
    @returns_errors
    async def delete_account(self, info: Info, input: DeleteAccountInput) -> DeleteAccountResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        if ctx.claims is None:
            raise NotAuthenticatedProblem()
        async with ctx.state.unit_of_work() as uow:
            user_id = await deletion.delete_account(
                uow, viewer.id, current_session_id=ctx.claims.session_id, password=input.password
            )
        if isinstance(ctx.response, Response):
            clear_refresh_cookie(ctx.response, ctx.state.settings)
        return DeleteAccountPayload(user_id=strawberry.ID(str(user_id)))
