"""The `/graphql` endpoint: Strawberry's ASGI view with our context and WebSocket auth."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from watchparty.accounts.tokens import AccessClaims, TokenError
from watchparty.context import Context
from watchparty.state import AppState


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, state: AppState) -> None:
        settings = state.settings
        from watchparty.schema import build_schema

        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphql_ide else None,
            allow_queries_via_get=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_operations,
            allowed_origins=settings.allowed_origins,
        )
        self.state = state

    def _claims(self, authorization: str | None) -> AccessClaims | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        return self.state.access_tokens.verify(token)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:  # type: ignore[override]
        claims = None
        if isinstance(request, Request):
            try:
                claims = self._claims(request.headers.get("authorization"))
            except TokenError:
                claims = None  # an invalid token is anonymous; protected fields say NotAuthenticated
        return Context(state=self.state, request=request, response=response, claims=claims)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        params: Any = context.connection_params if hasattr(context, "connection_params") else {}
        authorization = params.get("authorization") if isinstance(params, dict) else None
        try:
            context.claims = self._claims(authorization if isinstance(authorization, str) else None)
        except TokenError as exc:
            raise ConnectionRejectionError({"reason": "invalid or expired token"}) from exc
        return None
