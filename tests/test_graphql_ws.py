"""The WebSocket endpoint: graphql-transport-ws only, origins, init timeout, auth and expiry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from watchparty.access_tokens import AccessTokens

ME = "query { me { id email } }"


@pytest.fixture(scope="module")
async def url(api: Api) -> AsyncIterator[str]:
    async with live_server(api.app) as base:
        yield base


def token_with_ttl(api: Api, token: str, ttl_seconds: int) -> str:
    """A genuine access token for the same sign-in, signed by the server's key, but with its
    own lifetime (the setting's minimum of 30 s would make the expiry test slow)."""
    claims = api.state.access_tokens.verify(token)
    short = api.settings.model_copy(update={"access_token_ttl_seconds": ttl_seconds})
    return AccessTokens(short).issue(claims.user_id, claims.session_id).token


async def test_me_over_the_socket_with_a_token(api: Api, url: str) -> None:
    user = await api.register()
    async with graphql_socket(url) as socket:
        ack = await socket.init({"authorization": f"Bearer {user['accessToken']}"})
        assert ack["type"] == "connection_ack"
        result, complete = await socket.execute(ME)
    assert result["payload"] == {
        "data": {"me": {"id": user["user"]["id"], "email": user["user"]["email"]}}
    }
    assert complete == {"id": result["id"], "type": "complete"}


async def test_anonymous_socket_is_allowed_but_signed_out(url: str) -> None:
    async with graphql_socket(url) as socket:
        assert (await socket.init())["type"] == "connection_ack"
        result, _ = await socket.execute(ME)
    assert result["payload"] == {"data": {"me": None}}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", 42, {"token": "x"}],
)
async def test_bad_authorization_closes_with_4403(url: str, authorization: object) -> None:
    async with graphql_socket(url) as socket:
        await socket.send({"type": "connection_init", "payload": {"authorization": authorization}})
        assert await socket.close_code() == 4403


async def test_expired_token_is_refused_at_init(api: Api, url: str) -> None:
    user = await api.register()
    expired = token_with_ttl(api, user["accessToken"], -60)
    async with graphql_socket(url) as socket:
        await socket.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {expired}"}}
        )
        assert await socket.close_code() == 4403


async def test_socket_closes_with_4403_when_its_token_expires(api: Api, url: str) -> None:
    user = await api.register()
    short = token_with_ttl(api, user["accessToken"], 2)
    async with graphql_socket(url) as socket:
        assert (await socket.init({"authorization": f"Bearer {short}"}))["type"] == "connection_ack"
        result, _ = await socket.execute(ME)
        assert result["payload"]["data"]["me"]["id"] == user["user"]["id"]
        assert await socket.close_code(timeout=15) == 4403


async def test_anonymous_and_long_lived_sockets_stay_open(api: Api, url: str) -> None:
    """No expiry timer for anonymous sockets; a normal token is not closed early."""
    user = await api.register()
    async with graphql_socket(url) as anonymous, graphql_socket(url) as signed_in:
        await anonymous.init()
        await signed_in.init({"authorization": f"Bearer {user['accessToken']}"})
        for socket in (anonymous, signed_in):
            await socket.send({"type": "ping"})
            assert await socket.receive() == {"type": "pong"}


async def test_cross_origin_handshake_is_rejected_unless_listed(api: Api, url: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with graphql_socket(url, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403

    listed = api.settings.allowed_origins[0]
    async with graphql_socket(url, origin=listed) as socket:
        assert (await socket.init())["type"] == "connection_ack"


async def test_legacy_graphql_ws_protocol_is_off(url: str) -> None:
    async with graphql_socket(url, subprotocols=("graphql-ws",)) as socket:
        assert socket.connection.subprotocol is None
        assert await socket.close_code() == 4406


async def test_subscribe_before_init_is_4401_and_double_init_is_4429(url: str) -> None:
    async with graphql_socket(url) as socket:
        await socket.subscribe(ME)
        assert await socket.close_code() == 4401
    async with graphql_socket(url) as socket:
        await socket.init()
        await socket.send({"type": "connection_init", "payload": {}})
        assert await socket.close_code() == 4429


async def test_connection_init_timeout_closes_with_4408(tmp: Path) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp, ws_init_timeout_seconds=0.2)
    async with (
        running_app(settings) as api,
        live_server(api.app) as base,
        graphql_socket(base) as socket,
    ):
        assert await socket.close_code() == 4408


async def test_token_for_an_unknown_sign_in_is_refused(api: Api, url: str) -> None:
    """A well-signed token whose session does not exist is refused like a revoked one (4403:
    the client must sign in again), not taken as an anonymous socket."""
    stranger = AccessTokens(api.settings).issue(uuid.uuid4(), uuid.uuid4()).token
    async with graphql_socket(url) as socket:
        await socket.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {stranger}"}}
        )
        assert await socket.close_code() == 4403
