"""revokeSession on one `watchparty serve` closes the session's sockets on the other one too.

Two real processes on PostgreSQL and a private redis-server (tests/test_multiprocess_party.py).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from tests.accounts_ops import LOGIN, REGISTER, REVOKE_SESSION, SESSIONS
from tests.redis_server import RedisServer
from tests.support import PASSWORD, unique_email
from tests.test_multiprocess_party import Serve, two_processes
from tests.test_party_stream_support import User, create_party, party_stream, rename
from tests.test_sessions_revocation import FORBIDDEN, refused_at_init, title_heard


async def sign_in_twice(server: Serve) -> tuple[User, User]:
    """One person, two sign-ins: (the one that stays, the one that will be revoked)."""
    email = unique_email("mp-revoke")
    credentials = {"email": email, "password": PASSWORD}
    registered = (
        await server.gql(REGISTER, {"input": {**credentials, "displayName": "Two Devices"}})
    ).data["register"]
    logged_in = (await server.gql(LOGIN, {"input": credentials})).data["login"]
    user_id = registered["user"]["id"]
    return User(user_id, registered["accessToken"]), User(user_id, logged_in["accessToken"])


async def test_revocation_closes_the_sessions_sockets_on_every_process(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        keeper, doomed = await sign_in_twice(a)
        party_id = await create_party(a, keeper)  # PRIVATE
        kept = await ex.enter_async_context(party_stream(b.base, keeper, party_id))
        gone_b = await ex.enter_async_context(party_stream(b.base, doomed, party_id))
        gone_a = await ex.enter_async_context(party_stream(a.base, doomed, party_id))
        for stream in (kept, gone_b, gone_a):
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"

        rows = (await a.gql(SESSIONS, token=doomed.token)).data["sessions"]
        session_id = next(row["id"] for row in rows if row["current"])
        revoked = await a.gql(
            REVOKE_SESSION, {"input": {"sessionId": session_id}}, token=keeper.token
        )
        assert revoked.data["revokeSession"]["__typename"] == "RevokeSessionPayload"

        # Process a closes its own socket; b hears of it through Redis.
        assert await gone_a.socket.close_code() == FORBIDDEN
        assert await gone_b.socket.close_code() == FORBIDDEN
        assert await refused_at_init(b.base, doomed.token) == FORBIDDEN
        assert (await b.gql(SESSIONS, token=doomed.token)).status == 401
        # The other sign-in's stream on b goes on.
        await rename(a, keeper, party_id, "Still here")
        assert await title_heard(kept) == "Still here"
