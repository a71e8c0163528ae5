"""The typed GraphQL context: one per HTTP request, one per WebSocket connection.

`loaders` (the DataLoader registry, `watchparty.loaders`) is rebuilt for every operation (see
`gql.extensions.FreshLoaders`), because on a WebSocket the context lives as long as the
connection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from watchparty.access_tokens import AccessClaims
from watchparty.accounts.loaders import auth_session_loader_of, user_loader_of
from watchparty.accounts.models import User
from watchparty.errors import NotAuthenticated
from watchparty.loaders import Loaders

if TYPE_CHECKING:
    from watchparty.state import AppState


@dataclass
class Context:
    state: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    claims: AccessClaims | None = None
    # Over HTTP the token's sign-in is checked before execution (a revoked one is a 401), and
    # the user found then is the viewer: no second read.
    signed_in: User | None = None
    # Over HTTP: the sign-in was checked, by that read or a moment ago by an earlier request
    # (`accounts.checked_sessions`, then `signed_in` is None and the user is read when asked for).
    session_checked: bool = False
    loaders: Loaders = field(init=False)
    connection_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.state)

    def renew_loaders(self) -> None:
        self.loaders = Loaders(self.state)

    @property
    def client_ip(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    async def viewer(self) -> User | None:
        """The signed-in user, or None. A revoked sign-in counts as signed out."""
        if self.claims is None:
            return None
        if self.signed_in is not None:
            # As a loader read would: resolvers loading the viewer's user reuse this one.
            user_loader_of(self.loaders).prime(self.signed_in.id, self.signed_in)
            return self.signed_in
        if not self.session_checked:
            family = await auth_session_loader_of(self.loaders).load(self.claims.session_id)
            if family is None or family.revoked_at is not None:
                return None
        user = await user_loader_of(self.loaders).load(self.claims.user_id)
        if user is None or not user.is_active:
            return None
        return user

    async def require_viewer(self) -> User:
        user = await self.viewer()
        if user is None:
            raise NotAuthenticated()
        return user

    async def require_viewer_id(self) -> uuid.UUID:
        """The signed-in user's id; over HTTP without reading the user (its sign-in is checked)."""
        if self.claims is not None and self.session_checked:
            return self.claims.user_id
        return (await self.require_viewer()).id

    @property
    def viewer_id(self) -> uuid.UUID | None:
        return self.claims.user_id if self.claims else None


Info = StrawberryInfo[Context, None]
