"""The `/graphql` endpoint: Strawberry's ASGI view, made to follow GraphQL over HTTP closely.

On top of Strawberry:
- `application/graphql-response+json` is honoured (request errors become 4xx without `data`);
- request errors are answered as GraphQL JSON (`{"errors": [...]}`), not plain text;
- 415 for a POST that is not `application/json`, 405 + `Allow: POST` for a mutation over GET,
  queries only over GET, subscriptions only over the WebSocket;
- bodies larger than `max_body_bytes` get 413 before any parsing (the body is counted as it
  streams in, so a missing or lying Content-Length does not help);
- a bearer token that is expired, forged or malformed, or whose sign-in was revoked, is answered
  401 with `WWW-Authenticate: Bearer error="invalid_token"` and an `UNAUTHENTICATED` error
  before anything runs (no token at all is anonymous, as before);
- `GET /graphql` answers carry a strong `ETag` and a `Cache-Control` chosen per operation
  (`gql.cache_hints`: public with max-age when every root field is hinted public and the request
  is anonymous, else `private, no-cache`; any error: `no-store`); `If-None-Match` gives 304;
- automatic persisted queries and the trusted-documents mode (`gql.persisted`);
- WebSocket: graphql-transport-ws only, auth from the `connection_init` payload (4403 for a bad,
  expired or revoked token), a socket closes with 4403 when its token expires (see
  `gql.websocket`) or its sign-in is revoked (see `accounts.revocations`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, parse
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from watchparty.access_tokens import AccessClaims, TokenError
from watchparty.accounts import revocations
from watchparty.accounts.sessions import check_request_sign_in, signed_in_user
from watchparty.context import Context
from watchparty.gql import graphiql
from watchparty.gql.cache_hints import operation_policy
from watchparty.gql.negotiation import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    is_internal,
    is_request_error,
    negotiate,
)
from watchparty.gql.persisted import PersistedQueries, PersistedQueryProblem, document_hash
from watchparty.gql.websocket import TransportWSHandler
from watchparty.state import AppState

log = logging.getLogger(__name__)

POLICY_CACHE_SIZE = 1024  # distinct (document, operation name) policies kept


class RequestError(HTTPException):
    """A request the server will not execute; answered as a GraphQL response without data."""

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code, reason)
        self.headers = headers or {}
        self.extensions = extensions


class _ClientGone(Exception):
    pass


class Unauthenticated(RequestError):
    """A bearer token that authenticates nobody: 401 as RFC 6750 says, and a GraphQL error whose
    `extensions.code` is UNAUTHENTICATED and `extensions.reason` says why."""

    MESSAGES = {
        "TOKEN_EXPIRED": "The access token has expired. Refresh it and retry.",
        "TOKEN_INVALID": "The access token is not valid. Sign in again.",
        "SESSION_REVOKED": "This sign-in has ended. Sign in again.",
    }

    def __init__(self, reason: str) -> None:
        message = self.MESSAGES[reason]
        super().__init__(
            401,
            message,
            {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{message}"'},
        )
        self.extensions = {"code": "UNAUTHENTICATED", "reason": reason}


NO_STORE = "no-store"
PRIVATE = "private, no-cache"
VARY = "Accept, Authorization"


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): a proxy that compressed the
    answer may have sent our tag back as W/"..."."""
    if not header:
        return False
    tags = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in tags or etag in tags


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _optional(data: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise RequestError(
            400, f"The GraphQL request's `{key}` must be {what} or null, if provided."
        )
    return value


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self,
        state: AppState,
        schema: BaseSchema,
        persisted: PersistedQueries | None = None,
    ) -> None:
        """`schema` is the application schema (`schema.build_schema`, passed by the composition
        root, `app.py`); tests may pass one built with the same extensions (see
        `schema_extensions`) to exercise failure paths."""
        settings = state.settings
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphql_ide else None,
            allow_queries_via_get=True,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_operations,
            allowed_origins=settings.allowed_origins,
        )
        self.state = state
        self.persisted = persisted
        self._policies: dict[tuple[str, str | None], str] = {}

    # --- HTTP -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        media_type = negotiate(Headers(scope=scope).get("accept"))
        try:
            replay = await self._read_body(scope, receive)
            response = await self.run(Request(scope, replay))
        except _ClientGone:
            return
        except HTTPException as exc:
            response = self.error_response(exc, media_type)
        if scope["method"] == "GET":
            response = self._conditional(Headers(scope=scope), response)
        await response(scope, receive, send)

    def _conditional(self, headers: Headers, response: Response) -> Response:
        """A strong ETag on cacheable answers, and 304 when the client has it already."""
        cache_control = response.headers.get("cache-control")
        if cache_control is None or cache_control == NO_STORE or response.status_code != 200:
            return response
        etag = strong_etag(bytes(response.body))
        response.headers["etag"] = etag
        if not _etag_matches(headers.get("if-none-match"), etag):
            return response
        kept = {k: v for k, v in response.headers.items() if k in ("cache-control", "vary")}
        return Response(status_code=304, headers={**kept, "etag": etag})

    async def _read_body(self, scope: Scope, receive: Receive) -> Receive:
        """Buffer the body up to the limit; 413 as soon as it is exceeded, before parsing."""
        limit = self.state.settings.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"The request body is larger than {limit} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"The request body is larger than {limit} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    def error_response(self, exc: HTTPException, media_type: str) -> Response:
        headers = dict(getattr(exc, "headers", {}))
        if exc.status_code == 405:
            headers.setdefault("Allow", "GET, POST")
        headers["Cache-Control"] = NO_STORE  # never cache errors
        error: dict[str, Any] = {"message": exc.reason}
        extensions = getattr(exc, "extensions", None)
        if extensions:
            error["extensions"] = extensions
        body = {"errors": [error]}
        return Response(
            self.encode_json(body),
            status_code=exc.status_code,
            headers=headers,
            media_type=f"{media_type}; charset=utf-8",
        )

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Not for a persisted query (a GET with `extensions` and no `query`)."""
        if request.query_params.get("extensions") is not None:
            return False
        return super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page_response(request)  # assets from the package, not a CDN

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{sub_response.media_type or JSON}; charset=utf-8"
        return response

    def decode_json(self, data: str | bytes) -> object:
        """JSON nested deeper than the parser's recursion is invalid JSON like any other: 400 over
        HTTP, and over the WebSocket Strawberry closes with 4400 for a JSONDecodeError."""
        try:
            return super().decode_json(data)
        except RecursionError:
            raise json.JSONDecodeError("The JSON is nested too deeply.", "", 0) from None

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for non-UTF-8 bodies
            raise RequestError(400, "Unable to parse the request as JSON.") from exc

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:  # type: ignore[override]
        if request.method == "GET":
            data: Any = self.parse_query_params(request.query_params)
        else:
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type != JSON:
                raise RequestError(415, "Send GraphQL requests as application/json.")
            data = self.parse_json(await request.get_body())
        if not isinstance(data, dict):
            raise RequestError(400, "The request body must be a JSON object (batching is off).")
        extensions = _optional(data, "extensions", dict, "an object")
        return GraphQLRequestData(
            query=await self._document(_optional(data, "query", str, "a string"), extensions),
            variables=_optional(data, "variables", dict, "an object"),
            operation_name=_optional(data, "operationName", str, "a string"),
            extensions=extensions,
            protocol="http",
        )

    async def _document(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The document to run: the query, or the persisted one its hash names."""
        if self.persisted is None:
            return query
        try:
            return await self.persisted.document(query, extensions)
        except PersistedQueryProblem as exc:
            raise RequestError(exc.status, str(exc), extensions={"code": exc.code}) from exc

    def _cache_control(self, context: Context, request_data: GraphQLRequestData) -> str:
        """Public only for an anonymous request whose root fields are all hinted public."""
        if context.claims is not None or request_data.query is None:
            return PRIVATE
        key = (document_hash(request_data.query), request_data.operation_name)
        found = self._policies.get(key)
        if found is None:
            try:
                document = parse(request_data.query)
            except GraphQLError:
                return NO_STORE
            policy = operation_policy(
                self.schema._schema,  # type: ignore[attr-defined]
                document,
                request_data.operation_name,
            )
            found = PRIVATE if policy is None else f"public, max-age={policy.max_age}"
            if len(self._policies) >= POLICY_CACHE_SIZE:
                self._policies.clear()
            self._policies[key] = found
        return found

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        allowed = (
            {OperationType.QUERY}
            if method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise RequestError(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise RequestError(
                    400, "Subscriptions run over the WebSocket (graphql-transport-ws)."
                ) from exc
            raise RequestError(405, "Mutations must be sent with POST.", {"Allow": "POST"}) from exc
        except MissingQueryError as exc:
            raise RequestError(400, "No GraphQL query found in the request.") from exc
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON and is_request_error(result):
            sub_response.status_code = 500 if is_internal(result) else 400
        if method == "GET":
            sub_response.headers["Cache-Control"] = (
                NO_STORE if result.errors else self._cache_control(context, request_data)
            )
            sub_response.headers["Vary"] = VARY
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if is_request_error(result):
            # Execution never started, so there is no `data` entry (not even null).
            response.pop("data", None)
        return response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:  # type: ignore[override]
        context = Context(state=self.state, request=request, response=response)
        if isinstance(request, Request):
            try:
                context.claims = self._claims(request.headers.get("authorization"))
            except TokenError as exc:
                raise Unauthenticated("TOKEN_EXPIRED" if exc.expired else "TOKEN_INVALID") from exc
            if context.claims is not None:
                # Checked before execution, so a revoked sign-in is never half-served.
                try:
                    check = await check_request_sign_in(self.state, context.claims)
                except Exception as exc:  # the database is unreachable: retryable, not a 500
                    log.warning("could not check the access token's sign-in", exc_info=True)
                    raise RequestError(
                        503, "Try again in a few seconds.", {"Retry-After": "5"}
                    ) from exc
                if not check.valid:
                    raise Unauthenticated("SESSION_REVOKED")
                # `signed_in` stays None when the check came from `checked_sessions`.
                context.signed_in = check.user
                context.session_checked = True
        return context

    # --- WebSocket ----------------------------------------------------------------------------

    def _claims(self, authorization: str | None) -> AccessClaims | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        return self.state.access_tokens.verify(token)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        """No `authorization` is an anonymous socket (public data); a bad, expired or revoked one
        closes with 4403. A signed-in socket registers with the session watch before its sign-in
        is checked, so a revocation committed after the check still reaches it."""
        params: Any = context.connection_params
        authorization = params.get("authorization") if isinstance(params, dict) else None
        if authorization in (None, ""):
            context.claims = None
            return None
        if not isinstance(authorization, str) or bearer_token(authorization) is None:
            raise ConnectionRejectionError(
                {"reason": "authorization must be 'Bearer <access token>'"}
            )
        try:
            claims = self._claims(authorization)
        except TokenError as exc:
            raise ConnectionRejectionError({"reason": "invalid or expired token"}) from exc
        if claims is None:  # unreachable: the bearer form was checked above
            raise ConnectionRejectionError({"reason": "invalid or expired token"})
        context.claims = claims
        socket = context.request
        watch = revocations.get_watch(self.state)
        if watch is not None and isinstance(socket, WebSocket):
            watch.register(claims.session_id, socket)
        if await signed_in_user(self.state.sessionmaker, claims) is None:
            if watch is not None and isinstance(socket, WebSocket):
                watch.unregister(claims.session_id, socket)
            raise ConnectionRejectionError({"reason": "this sign-in has ended"})
        return None


__all__ = ["GraphQLView", "RequestError", "Unauthenticated", "bearer_token"]
