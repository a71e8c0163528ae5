"""Test support: app instances on real PostgreSQL/Redis or embedded, a GraphQL client, outbox."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from watchparty.app import create_app
from watchparty.config import Settings
from watchparty.jobs import InProcessJobQueue
from watchparty.state import AppState

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# High enough that ordinary tests never trip them; rate-limit tests set their own.
RELAXED_LIMITS = {
    "rate_limit_login_ip": "10000/60",
    "rate_limit_login_account": "10000/60",
    "rate_limit_register_ip": "10000/60",
    "rate_limit_reset_ip": "10000/60",
    "rate_limit_reset_account": "10000/60",
    "rate_limit_verify_resend": "10000/60",
    "rate_limit_refresh_ip": "10000/60",
    "rate_limit_refresh_token": "10000/60",
    "rate_limit_analytics": "10000/60",  # trackEvents: every anonymous test call is 127.0.0.1
    "rate_limit_analytics_anonymous": "10000/60",
}

PASSWORD = "correct horse battery"

# Tables written in the background, not by the operation a test counts statements of: the
# analytics sink's inserts (batched by time after earlier commits) and the search outbox
# (written with changes, drained on a timer).
BACKGROUND_TABLES = ("analytics_events", "search_outbox")


def foreground(statement: str) -> bool:
    """Whether a counted SQL statement is the operation's own (see BACKGROUND_TABLES)."""
    return not any(table in statement for table in BACKGROUND_TABLES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def make_settings(mode: str, *, database_url: str, tmp: Path, **overrides: Any) -> Settings:
    """mode 'postgres': PostgreSQL + Redis + ARQ; mode 'embedded': SQLite + memory, in-process."""
    values: dict[str, Any] = {
        "app_env": "test",
        "data_dir": tmp,
        "email_outbox_dir": tmp / "outbox",
        "redis_key_prefix": f"wptest-{uuid.uuid4().hex[:8]}:",
        "log_format": "console",
        # aggregation reads what was ingested half a second ago (production: 10 s)
        "analytics_aggregation_lag_seconds": 0.5,
        # Every request checks its sign-in (statement counts do not depend on timing); the
        # tests of `accounts.checked_sessions` turn the cache on.
        "session_check_cache_seconds": 0.0,
        **RELAXED_LIMITS,
    }
    if mode == "postgres":
        values.update(database_url=database_url, redis_url=REDIS_URL, auto_migrate=False)
    else:
        values.update(
            database_url=f"sqlite+aiosqlite:///{tmp / 'embedded.db'}",
            redis_url="",
            broadcast_url="memory://",
            auto_migrate=True,
        )
    values.update(overrides)
    return Settings(**values)


@dataclass
class GraphQLResponse:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers
    cookies: httpx.Cookies

    @property
    def data(self) -> Any:
        assert not self.body.get("errors"), self.body["errors"]
        return self.body["data"]


@dataclass
class Api:
    """A GraphQL-over-HTTP client bound to one app, plus helpers the tests share."""

    client: httpx.AsyncClient
    app: Starlette
    settings: Settings
    outbox: Path
    worker_task: asyncio.Task[Any] | None = None
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.wp
        return state

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> GraphQLResponse:
        request_headers = {"content-type": "application/json"}
        if token:
            request_headers["authorization"] = f"Bearer {token}"
        request_headers.update(headers or {})
        response = await self.client.post(
            "/graphql",
            content=json.dumps({"query": query, "variables": variables or {}}),
            headers=request_headers,
        )
        return GraphQLResponse(
            response.status_code, response.json(), response.headers, response.cookies
        )

    async def register(
        self, email: str | None = None, password: str = PASSWORD, display_name: str = "Test User"
    ) -> dict[str, Any]:
        """Register and return the AuthPayload (accessToken, user)."""
        email = email or unique_email()
        result = await self.gql(
            """mutation($input: RegisterInput!) { register(input: $input) {
                __typename
                ... on AuthPayload {
                    accessToken accessTokenExpiresAt user { id email displayName }
                }
                ... on UserError { code message field }
            } }""",
            {"input": {"email": email, "password": password, "displayName": display_name}},
        )
        payload: dict[str, Any] = result.data["register"]
        assert payload["__typename"] == "AuthPayload", payload
        return payload

    async def drain_jobs(self) -> None:
        if isinstance(self.state.jobs, InProcessJobQueue):
            await self.state.jobs.drain()

    async def emails(
        self, to: str, *, count: int = 1, timeout: float = 10.0, notifications: bool = False
    ) -> list[dict[str, Any]]:
        """Wait until `count` emails to `to` are in the outbox; return them oldest first.
        Notification emails (kind `notification:…`, e.g. the security notice a password reset
        sends) only with `notifications`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.drain_jobs()
            found = []
            if self.outbox.exists():
                for path in sorted(self.outbox.glob("*.json")):
                    record = json.loads(path.read_text())
                    if record["to"] != to:
                        continue
                    if notifications or not record["kind"].startswith("notification:"):
                        found.append(record)
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running_app(settings: Settings, *, worker: bool = True) -> AsyncIterator[Api]:
    """The app with its lifespan running, an httpx client, and (postgres mode) an ARQ worker."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        worker_task = None
        arq_worker = None
        if settings.redis_url and worker:
            from watchparty.worker import create_worker

            arq_worker = create_worker(settings, handle_signals=False, poll_delay=0.05)
            worker_task = asyncio.create_task(arq_worker.async_run())
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            try:
                yield Api(client, app, settings, Path(settings.email_outbox_dir or ""), worker_task)
            finally:
                if arq_worker is not None and worker_task is not None:
                    # Stop polling first, then let jobs in flight finish: arq's close() cancels
                    # running jobs and re-raises their CancelledError into the test.
                    worker_task.cancel()
                    await asyncio.gather(worker_task, return_exceptions=True)
                    running = list(arq_worker.tasks.values())
                    await asyncio.wait_for(asyncio.gather(*running, return_exceptions=True), 30)
                    await arq_worker.close()


@asynccontextmanager
async def live_server(app: Starlette) -> AsyncIterator[str]:
    """Serve an app (lifespan already running or not) on a loopback port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="watchparty.http.ws_transport:BoundedWebSocketProtocol",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class GraphQLSocket:
    """A minimal graphql-transport-ws client over a `websockets` connection, for tests."""

    PROTOCOL = "graphql-transport-ws"

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send connection_init; return the server's answer (connection_ack when accepted)."""
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        op_id = str(self._next_id)
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op_id, "type": "subscribe", "payload": payload})
        return op_id

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Run one operation; return its messages up to and including complete or error."""
        op_id = await self.subscribe(query, variables)
        messages = []
        while True:
            message = await self.receive(timeout)
            if message.get("id") != op_id:
                continue
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages

    async def close_code(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the socket; return the close code."""
        import websockets

        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), timeout)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@asynccontextmanager
async def graphql_socket(
    base_url: str,
    *,
    origin: str | None = None,
    subprotocols: tuple[str, ...] = (GraphQLSocket.PROTOCOL,),
) -> AsyncIterator[GraphQLSocket]:
    """Open a WebSocket to `/graphql` of a `live_server` (not yet initialised)."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin, Subprotocol

    url = base_url.replace("http://", "ws://", 1) + "/graphql"
    async with connect(
        url,
        origin=Origin(origin) if origin else None,
        subprotocols=[Subprotocol(p) for p in subprotocols],
        proxy=None,
        open_timeout=10,
    ) as connection:
        yield GraphQLSocket(connection)
