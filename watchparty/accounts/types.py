"""GraphQL types for accounts."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from watchparty.accounts import models
from watchparty.gql.sharing import same_for_every_viewer


@same_for_every_viewer("id", "display_name", "avatar_url", "bio", "created_at")
@strawberry.type(description="A person with an account.")
class User:
    id: strawberry.ID
    display_name: str
    avatar_url: str | None
    bio: str | None
    created_at: datetime
    _email: strawberry.Private[str]
    _email_verified: strawberry.Private[bool]
    _has_password: strawberry.Private[bool]
    _is_viewer: strawberry.Private[bool]

    @strawberry.field(description="Only visible to the user themselves; null for everyone else.")
    def email(self) -> str | None:
        return self._email if self._is_viewer else None

    @strawberry.field(description="Only visible to the user themselves; null for everyone else.")
    def email_verified(self) -> bool | None:
        return self._email_verified if self._is_viewer else None

    @strawberry.field(
        description="Whether the account can sign in with a password (false: social sign-in "
        "only; set one through requestPasswordReset). Null for everyone but the user."
    )
    def has_password(self) -> bool | None:
        return self._has_password if self._is_viewer else None

    @classmethod
    def from_model(cls, user: models.User, *, viewer_id: object = None) -> User:
        return cls(
            id=strawberry.ID(str(user.id)),
            display_name=user.display_name,
            avatar_url=user.avatar_url,
            bio=user.bio,
            created_at=user.created_at,
            _email=user.email,
            _email_verified=user.email_verified_at is not None,
            _has_password=user.password_hash is not None,
            _is_viewer=viewer_id == user.id,
        )


@strawberry.type(
    description="A signed-in session: the access token (the refresh token is a cookie)."
)
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    user: User


@strawberry.input
class RegisterInput:
    email: str
    password: str
    display_name: str


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input(description="Only the fields given change; null clears avatarUrl and bio.")
class UpdateProfileInput:
    display_name: strawberry.Maybe[str | None] = strawberry.field(
        default=None, description="1-50 characters; whitespace is collapsed."
    )
    avatar_url: strawberry.Maybe[str | None] = strawberry.field(
        default=None, description="An http(s) URL of at most 2048 characters."
    )
    bio: strawberry.Maybe[str | None] = strawberry.field(
        default=None, description="At most 500 characters; line breaks are kept."
    )


@strawberry.type
class UpdateProfilePayload:
    user: User


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.type(description="The password changed; every other session was signed out.")
class ChangePasswordPayload:
    user: User


@strawberry.input
class RequestPasswordResetInput:
    email: str


@strawberry.type(description="Always the same answer, whether or not the account exists.")
class RequestPasswordResetPayload:
    ok: bool


@strawberry.input
class ResetPasswordInput:
    token: str = strawberry.field(description="The token from the link in the reset email.")
    new_password: str


@strawberry.type(description="The password was reset and every session signed out.")
class ResetPasswordPayload:
    ok: bool


@strawberry.input
class VerifyEmailInput:
    token: str = strawberry.field(description="The token from the link in the verification email.")


@strawberry.type
class VerifyEmailPayload:
    user: User


@strawberry.input(description="Acts on the signed-in user; there is nothing to fill in.")
class ResendVerificationEmailInput:
    client_mutation_id: str | None = strawberry.field(
        default=None, description="Echoed back unchanged (Relay convention); optional."
    )


@strawberry.type
class ResendVerificationEmailPayload:
    ok: bool
    client_mutation_id: str | None = None


@strawberry.type(name="Session", description="One sign-in of the viewer (a device or browser).")
class SessionInfo:
    id: strawberry.ID
    created_at: datetime
    last_used_at: datetime = strawberry.field(description="Last refresh of its access token.")
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    method: str = strawberry.field(description="How it signed in: password, google or github.")
    current: bool = strawberry.field(description="True for the session making this request.")

    @classmethod
    def from_model(cls, row: models.AuthSession, *, current_id: uuid.UUID | None) -> SessionInfo:
        return cls(
            id=strawberry.ID(str(row.id)),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            user_agent=row.user_agent,
            ip_address=row.ip_address,
            method=row.method,
            current=row.id == current_id,
        )


@strawberry.input
class RevokeSessionInput:
    session_id: strawberry.ID


@strawberry.type
class RevokeSessionPayload:
    session_id: strawberry.ID


@strawberry.input(
    description="The password proves it is you; an account without one (social sign-in only) "
    "leaves it out and must have signed in within the last 10 minutes."
)
class DeleteAccountInput:
    password: str | None = None


@strawberry.type(description="The account is gone; every sign-in of it has ended.")
class DeleteAccountPayload:
    user_id: strawberry.ID
