"""The cache of recently checked sign-ins (`accounts.checked_sessions`): an HTTP request whose
sign-in this process found valid a moment ago skips the check, and a revocation through the API
still takes effect on the very next request.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from tests.accounts_ops import ME, REVOKE_SESSION, SESSIONS, login, mutate
from tests.support import Api, foreground, make_settings, running_app, unique_email

# Long enough that nothing in these tests outlives it.
CACHED = {"session_check_cache_seconds": 10.0}


async def statements_of(api: Api, token: str, query: str) -> tuple[int, dict[str, object]]:
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if foreground(statement):
            statements.append(statement)

    engine = api.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        result = await api.gql(query, token=token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements), result.body


async def test_a_checked_sign_in_is_not_read_again_and_a_revoked_one_is_refused_at_once(
    tmp_path: Path,
) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path, **CACHED)
    async with running_app(settings, worker=False) as api:
        email = unique_email("checked")
        first = (await api.register(email))["accessToken"]
        second = (await login(api, email))["accessToken"]
        clock = "{ serverTime(clientTimeMs: 1) { clientTimeMs } }"
        # The first request checks the sign-in (one read); the next ones within the TTL do not.
        await api.drain_jobs()  # the new sign-in's security notice, sent in the background
        assert (await statements_of(api, second, clock))[0] == 1
        assert await statements_of(api, second, clock) == (
            0,
            {"data": {"serverTime": {"clientTimeMs": 1.0}}},
        )
        # A resolver asking for the user reads it (not the sign-in again).
        reads, me = await statements_of(api, second, ME)
        assert reads == 1
        assert me["data"]["me"]["email"] == email  # type: ignore[index]

        sessions = (await api.gql(SESSIONS, token=first)).data["sessions"]
        doomed = next(row["id"] for row in sessions if not row["current"])
        revoked = await mutate(api, REVOKE_SESSION, "revokeSession", access=first, sessionId=doomed)
        assert revoked == {"__typename": "RevokeSessionPayload", "sessionId": doomed}

        refused = await api.gql(clock, token=second)
        assert refused.status == 401
        assert refused.body["errors"][0]["extensions"]["reason"] == "SESSION_REVOKED"
        assert (await api.gql(clock, token=first)).status == 200  # the other sign-in goes on


async def test_a_zero_ttl_checks_every_request(tmp_path: Path) -> None:
    settings = make_settings(
        "embedded", database_url="", tmp=tmp_path, session_check_cache_seconds=0.0
    )
    async with running_app(settings, worker=False) as api:
        token = (await api.register())["accessToken"]
        await api.drain_jobs()
        clock = "{ serverTime(clientTimeMs: 1) { clientTimeMs } }"
        assert (await statements_of(api, token, clock))[0] == 1
        assert (await statements_of(api, token, clock))[0] == 1
