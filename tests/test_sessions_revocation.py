"""A revoked sign-in ends its open WebSockets (4403) and cannot open new ones.

revokeSession, logout, a refresh-token reuse and changePassword (other sessions) each close the
sockets of the sessions they end, on a real WebSocket; a socket of another session goes on. The
periodic recheck closes a socket whose revocation message never came. Two processes:
tests/test_sessions_revocation_multiprocess.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from tests.accounts_ops import CHANGE_PASSWORD, ME, REVOKE_SESSION, SESSIONS, login, mutate
from tests.support import (
    PASSWORD,
    Api,
    GraphQLSocket,
    graphql_socket,
    live_server,
    make_settings,
    running_app,
    unique_email,
)
from tests.test_auth_refresh import age_rotations, error_code, post, sign_in
from tests.test_party_stream_support import PartyStream, User, create_party, party_stream, rename
from watchparty.accounts.models import AuthSession

FORBIDDEN = 4403


async def current_session(api: Api, token: str) -> str:
    rows = (await api.gql(SESSIONS, token=token)).data["sessions"]
    session_id: str = next(row["id"] for row in rows if row["current"])
    return session_id


@asynccontextmanager
async def signed_in_socket(base: str, token: str) -> AsyncIterator[GraphQLSocket]:
    async with graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        yield socket


async def refused_at_init(base: str, token: str) -> int | None:
    """Open a new socket with `token`; return the close code of its connection_init."""
    async with graphql_socket(base) as socket:
        await socket.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        return await socket.close_code()


async def title_heard(stream: PartyStream) -> str:
    item = await stream.next_event("PresenceChanged", "MemberUpdated")
    assert item["event"]["__typename"] == "PartyUpdated", item
    title: str = item["event"]["party"]["title"]
    return title


async def test_revoke_session_closes_its_sockets_on_a_private_party(any_api: Api) -> None:
    email = unique_email("ws-revoke")
    keeper = await any_api.register(email)
    lost_phone = await login(any_api, email, user_agent="Lost Phone")
    host = User(keeper["user"]["id"], keeper["accessToken"])
    lost = User(host.id, lost_phone["accessToken"])
    party_id = await create_party(any_api, host)  # PRIVATE
    async with live_server(any_api.app) as base, AsyncExitStack() as exits:
        kept = await exits.enter_async_context(party_stream(base, host, party_id))
        gone = await exits.enter_async_context(party_stream(base, lost, party_id))
        plain = await exits.enter_async_context(signed_in_socket(base, lost.token))
        for stream in (kept, gone):
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
        await rename(any_api, host, party_id, "Before")
        assert [await title_heard(kept), await title_heard(gone)] == ["Before", "Before"]

        doomed = await current_session(any_api, lost.token)
        result = await mutate(
            any_api, REVOKE_SESSION, "revokeSession", access=host.token, sessionId=doomed
        )
        assert result == {"__typename": "RevokeSessionPayload", "sessionId": doomed}
        # Every socket of that sign-in closes; the chat of a PRIVATE party stops reaching it.
        assert await gone.socket.close_code() == FORBIDDEN
        assert await plain.close_code() == FORBIDDEN
        # The other sign-in of the same person goes on.
        await rename(any_api, host, party_id, "After")
        assert await title_heard(kept) == "After"
        # And the revoked token cannot open a new socket.
        assert await refused_at_init(base, lost.token) == FORBIDDEN


async def test_logout_refresh_reuse_and_password_change_close_sockets(api: Api) -> None:
    async with live_server(api.app) as base:
        # POST /auth/logout ends the cookie's sign-in.
        _, access, cookie = await sign_in(api)
        async with signed_in_socket(base, access) as socket:
            assert (await post(api, "/auth/logout", cookie)).status_code == 204
            assert await socket.close_code() == FORBIDDEN
        assert await refused_at_init(base, access) == FORBIDDEN

        # A rotated refresh token presented after the grace window ends the family: the sockets
        # opened with its access tokens, old and new, close.
        user_id, first_access, first = await sign_in(api)
        refreshed = await post(api, "/auth/refresh", first)
        assert refreshed.status_code == 200
        async with (
            signed_in_socket(base, first_access) as older,
            signed_in_socket(base, refreshed.json()["accessToken"]) as newer,
        ):
            await age_rotations(api, user_id)
            replay = await post(api, "/auth/refresh", first)
            assert (replay.status_code, error_code(replay)) == (401, "REFRESH_TOKEN_REUSED")
            assert await older.close_code() == FORBIDDEN
            assert await newer.close_code() == FORBIDDEN

        # changePassword signs out the other sessions only.
        email = unique_email("ws-password")
        here = await api.register(email)
        elsewhere = await login(api, email, user_agent="Other Laptop")
        async with (
            signed_in_socket(base, here["accessToken"]) as current,
            signed_in_socket(base, elsewhere["accessToken"]) as other,
        ):
            changed = await mutate(
                api,
                CHANGE_PASSWORD,
                "changePassword",
                access=here["accessToken"],
                currentPassword=PASSWORD,
                newPassword="a different long passphrase",
            )
            assert changed["__typename"] == "ChangePasswordPayload", changed
            assert await other.close_code() == FORBIDDEN
            result, _ = await current.execute(ME)
            assert result["payload"]["data"]["me"]["id"] == here["user"]["id"]


async def test_the_recheck_closes_a_socket_whose_revocation_was_never_announced(
    tmp: Path,
) -> None:
    """A revocation message can be lost (Redis down); the periodic recheck is the safety net."""
    settings = make_settings("embedded", database_url="", tmp=tmp, ws_session_recheck_seconds=0.2)
    async with running_app(settings) as api, live_server(api.app) as base:
        user = await api.register()
        async with signed_in_socket(base, user["accessToken"]) as socket:
            session_id = await current_session(api, user["accessToken"])
            async with api.state.unit_of_work() as uow:  # behind the API's back: no message
                await uow.session.execute(
                    update(AuthSession)
                    .where(AuthSession.id == uuid.UUID(session_id))
                    .values(revoked_at=datetime.now(UTC), revoked_reason="test")
                )
            assert await socket.close_code() == FORBIDDEN
