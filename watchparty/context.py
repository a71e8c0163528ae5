"""The typed GraphQL context: one per HTTP request, one per WebSocket connection.

`loaders` is rebuilt for every operation (see `gql.extensions.FreshLoaders`), because on a
WebSocket the context lives as long as the connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from watchparty.accounts.loaders import auth_session_loader, user_loader
from watchparty.accounts.models import User
from watchparty.accounts.tokens import AccessClaims
from watchparty.errors import NotAuthenticated
from watchparty.parties.loaders import PartyLoaders

if TYPE_CHECKING:
    from watchparty.state import AppState

T = TypeVar("T")


class Loaders:
    def __init__(self, state: AppState) -> None:
        self.user = user_loader(state.sessionmaker)
        self.auth_session = auth_session_loader(state.sessionmaker)
        self.parties = PartyLoaders(state.sessionmaker)
        self._state = state
        self._more: dict[str, Any] = {}

    def get(self, name: str, factory: Callable[[AppState], T]) -> T:
        """The operation's loader called `name`, made by `factory(state)` on first use (so a
        domain adds loaders without editing this class)."""
        loader = self._more.get(name)
        if loader is None:
            loader = self._more[name] = factory(self._state)
        return cast(T, loader)


@dataclass
class Context:
    state: AppState
    request: Request | WebSocket
    response: Response | WebSocket | None
    claims: AccessClaims | None = None
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
        family = await self.loaders.auth_session.load(self.claims.session_id)
        if family is None or family.revoked_at is not None:
            return None
        user = await self.loaders.user.load(self.claims.user_id)
        if user is None or not user.is_active:
            return None
        return user

    async def require_viewer(self) -> User:
        user = await self.viewer()
        if user is None:
            raise NotAuthenticated()
        return user

    @property
    def viewer_id(self) -> uuid.UUID | None:
        return self.claims.user_id if self.claims else None


Info = StrawberryInfo[Context, None]
