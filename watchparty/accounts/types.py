"""GraphQL types for accounts."""

from __future__ import annotations

from datetime import datetime

import strawberry

from watchparty.accounts import models


@strawberry.type(description="A person with an account.")
class User:
    id: strawberry.ID
    display_name: str
    avatar_url: str | None
    bio: str | None
    created_at: datetime
    _email: strawberry.Private[str]
    _email_verified: strawberry.Private[bool]
    _is_viewer: strawberry.Private[bool]

    @strawberry.field(description="Only visible to the user themselves; null for everyone else.")
    def email(self) -> str | None:
        return self._email if self._is_viewer else None

    @strawberry.field(description="Only visible to the user themselves; null for everyone else.")
    def email_verified(self) -> bool | None:
        return self._email_verified if self._is_viewer else None

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
            _is_viewer=viewer_id == user.id,
        )


@strawberry.type(description="A signed-in session: the access token (the refresh token is a cookie).")
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
