"""The `sessions` query and `revokeSession`; a revoked session's access token stops working."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from tests.accounts_ops import (
    REVOKE_SESSION,
    SESSION_REVOKED,
    SESSIONS,
    UPDATE_PROFILE,
    login,
    me,
    mutate,
    signed_out,
)
from tests.support import Api, unique_email

NOT_FOUND = {
    "__typename": "NotFound",
    "code": "NOT_FOUND",
    "message": "Session not found.",
    "field": "sessionId",
}


async def _sessions(api: Api, access: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await api.gql(SESSIONS, token=access)).data["sessions"]
    return rows


async def test_sessions_lists_sign_ins_with_the_current_one_marked(any_api: Api) -> None:
    email = unique_email("sessions")
    await any_api.register(email)
    laptop = await login(any_api, email, user_agent="Laptop Browser")
    phone = await login(any_api, email, user_agent="Phone App")

    rows = await _sessions(any_api, laptop["accessToken"])
    assert [r["userAgent"] for r in rows[:2]] == ["Phone App", "Laptop Browser"]
    assert len(rows) == 3
    assert [r["current"] for r in rows] == [False, True, False]
    for row in rows:
        assert row["method"] == "password"
        assert row["ipAddress"] == "127.0.0.1"
        created = datetime.fromisoformat(row["createdAt"])
        assert datetime.fromisoformat(row["expiresAt"]) > created
        assert datetime.fromisoformat(row["lastUsedAt"]) >= created
    # Most recently used first.
    used = [row["lastUsedAt"] for row in rows]
    assert used == sorted(used, reverse=True)
    # Each session sees itself as the current one.
    from_phone = await _sessions(any_api, phone["accessToken"])
    assert [r["userAgent"] for r in from_phone if r["current"]] == ["Phone App"]


async def test_sessions_is_null_when_anonymous(api: Api) -> None:
    assert (await api.gql(SESSIONS)).data == {"sessions": None}


async def test_revoke_session_ends_that_sign_in(any_api: Api) -> None:
    email = unique_email("revoke")
    keeper = await any_api.register(email)
    doomed = await login(any_api, email, user_agent="Lost Phone")
    doomed_id = next(
        r["id"] for r in await _sessions(any_api, doomed["accessToken"]) if r["current"]
    )

    result = await mutate(
        any_api, REVOKE_SESSION, "revokeSession", access=keeper["accessToken"], sessionId=doomed_id
    )
    assert result == {"__typename": "RevokeSessionPayload", "sessionId": doomed_id}
    # Revoking again is harmless (a retried request gets the same answer).
    again = await mutate(
        any_api, REVOKE_SESSION, "revokeSession", access=keeper["accessToken"], sessionId=doomed_id
    )
    assert again == result

    assert [r["id"] for r in await _sessions(any_api, keeper["accessToken"])] != []
    assert doomed_id not in [r["id"] for r in await _sessions(any_api, keeper["accessToken"])]
    # The revoked session's still unexpired access token is refused with 401 (sign in again),
    # for queries and mutations alike, before anything runs.
    assert await signed_out(any_api, doomed["accessToken"])
    for document, variables in [
        (SESSIONS, None),
        (UPDATE_PROFILE, {"input": {"bio": "still here?"}}),
    ]:
        blocked = await any_api.gql(document, variables, token=doomed["accessToken"])
        assert (blocked.status, blocked.body) == (401, SESSION_REVOKED)
    assert await me(any_api, keeper["accessToken"]) is not None


async def test_revoking_the_current_session_signs_it_out(api: Api) -> None:
    payload = await api.register()
    current = next(r["id"] for r in await _sessions(api, payload["accessToken"]) if r["current"])
    result = await mutate(
        api, REVOKE_SESSION, "revokeSession", access=payload["accessToken"], sessionId=current
    )
    assert result["__typename"] == "RevokeSessionPayload"
    assert await signed_out(api, payload["accessToken"])


async def test_someone_elses_session_is_not_found(api: Api) -> None:
    victim = await api.register()
    attacker = await api.register()
    victim_session = (await _sessions(api, victim["accessToken"]))[0]["id"]
    for session_id in [victim_session, str(uuid.uuid4()), "not-a-session-id", "x" * 5000]:
        result = await mutate(
            api,
            REVOKE_SESSION,
            "revokeSession",
            access=attacker["accessToken"],
            sessionId=session_id,
        )
        assert result == NOT_FOUND, session_id
    assert await me(api, victim["accessToken"]) is not None
    anonymous = await mutate(api, REVOKE_SESSION, "revokeSession", sessionId=victim_session)
    assert anonymous["code"] == "NOT_AUTHENTICATED"
