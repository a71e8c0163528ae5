"""The refresh-cookie endpoints: POST /auth/refresh and POST /auth/logout."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.accounts_ops import signed_out
from tests.support import PASSWORD, Api, unique_email
from watchparty.access_tokens import AccessTokens
from watchparty.accounts.models import AuthSession, RefreshToken

ORIGIN = {"origin": "http://localhost:3000"}
ME = "{ me { id email } }"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
    __typename ... on AuthPayload { accessToken user { id } } } }"""


@asynccontextmanager
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh client (its own cookie jar) talking to the running app."""
    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def refresh_cookie(response: httpx.Response) -> SimpleCookie:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("wp_refresh=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    cookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


def cookie_value(response: httpx.Response) -> str:
    return refresh_cookie(response)["wp_refresh"].value


def assert_cleared(response: httpx.Response) -> None:
    morsel = refresh_cookie(response)["wp_refresh"]
    assert morsel.value == ""
    assert morsel["max-age"] == "0"
    assert morsel["path"] == "/auth"


async def sign_in(api: Api) -> tuple[str, str, str]:
    """Register a user, sign in through `login`; returns (user id, access token, raw cookie)."""
    email = unique_email("refresh")
    await api.register(email)
    async with browser(api) as client:
        response = await client.post(
            "/graphql",
            content=json.dumps(
                {"query": LOGIN, "variables": {"input": {"email": email, "password": PASSWORD}}}
            ),
            headers={"content-type": "application/json"},
        )
    payload = response.json()["data"]["login"]
    assert payload["__typename"] == "AuthPayload"
    return payload["user"]["id"], payload["accessToken"], cookie_value(response)


async def post(
    api: Api, path: str, cookie: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with browser(api) as client:
        request_headers = dict(ORIGIN if headers is None else headers)
        if cookie is not None:
            request_headers["cookie"] = f"wp_refresh={cookie}"
        return await client.post(path, headers=request_headers)


async def age_rotations(api: Api, user_id: str, seconds: float = 3600) -> None:
    """Date the user's past rotations `seconds` ago: the reuse grace window has passed."""
    families = select(AuthSession.id).where(AuthSession.user_id == uuid.UUID(user_id))
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.session_id.in_(families), RefreshToken.rotated_at.is_not(None))
            .values(rotated_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


async def me(api: Api, access: str) -> Any:
    return (await api.gql(ME, token=access)).data["me"]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    code: str = body["error"]["code"]
    return code


async def test_login_sets_an_httponly_refresh_cookie_scoped_to_auth(any_api: Api) -> None:
    email = unique_email("cookie")
    await any_api.register(email)
    async with browser(any_api) as client:
        response = await client.post(
            "/graphql",
            content=json.dumps(
                {"query": LOGIN, "variables": {"input": {"email": email, "password": PASSWORD}}}
            ),
            headers={"content-type": "application/json"},
        )
    morsel = refresh_cookie(response)["wp_refresh"]
    assert len(morsel.value) >= 40
    assert morsel["httponly"] is True
    assert morsel["path"] == "/auth"
    assert morsel["samesite"].lower() == "lax"
    assert morsel["max-age"] == str(30 * 86400)
    assert morsel["secure"] == ""  # PUBLIC_URL is http:// in tests; production requires https


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(any_api: Api) -> None:
    user_id, first_access, first = await sign_in(any_api)

    refreshed = await post(any_api, "/auth/refresh", first)
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert set(body) == {"accessToken", "accessTokenExpiresAt"}
    assert refreshed.headers["cache-control"] == "no-store"
    expires = datetime.fromisoformat(body["accessTokenExpiresAt"])
    assert expires.tzinfo is not None and expires > datetime.now(UTC)
    claims = AccessTokens(any_api.settings).verify(body["accessToken"])
    assert int(claims.expires_at) == int(expires.timestamp())
    second = cookie_value(refreshed)
    assert second != first
    assert (await me(any_api, body["accessToken"]))["id"] == user_id

    # The next rotation works from the new cookie, as a browser would do it.
    third_response = await post(any_api, "/auth/refresh", second)
    assert third_response.status_code == 200
    third = cookie_value(third_response)
    newest_access = third_response.json()["accessToken"]

    # Later, somebody replays the first (already rotated) token: 401, and the family is gone.
    await age_rotations(any_api, user_id)
    replay = await post(any_api, "/auth/refresh", first)
    assert replay.status_code == 401
    assert error_code(replay) == "REFRESH_TOKEN_REUSED"
    assert_cleared(replay)

    newest = await post(any_api, "/auth/refresh", third)
    assert newest.status_code == 401
    assert error_code(newest) == "REFRESH_TOKEN_REVOKED"
    assert await signed_out(any_api, newest_access)
    assert await signed_out(any_api, first_access)


async def test_logout_revokes_the_family_and_clears_the_cookie(any_api: Api) -> None:
    _, access, cookie = await sign_in(any_api)
    assert await me(any_api, access) is not None

    out = await post(any_api, "/auth/logout", cookie)
    assert out.status_code == 204
    assert out.content == b""
    assert_cleared(out)
    assert await signed_out(any_api, access)
    after = await post(any_api, "/auth/refresh", cookie)
    assert (after.status_code, error_code(after)) == (401, "REFRESH_TOKEN_REVOKED")

    # Idempotent: again with the same cookie, and without any cookie.
    assert (await post(any_api, "/auth/logout", cookie)).status_code == 204
    assert (await post(any_api, "/auth/logout", None)).status_code == 204


async def test_cookie_endpoints_require_one_of_our_origins(any_api: Api) -> None:
    _, _, cookie = await sign_in(any_api)
    refused = [
        {},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://localhost:3000.evil.example"},
        {"referer": "https://evil.example/http://localhost:3000/"},
    ]
    for headers in refused:
        for path in ("/auth/refresh", "/auth/logout"):
            response = await post(any_api, path, cookie, headers=headers)
            assert response.status_code == 403, (path, headers)
            assert error_code(response) == "ORIGIN_NOT_ALLOWED"
            assert "set-cookie" not in response.headers

    # Nothing above consumed or revoked the token. A Referer stands in for a missing Origin,
    # and PUBLIC_URL's own origin is allowed.
    by_referer = await post(
        any_api, "/auth/refresh", cookie, headers={"referer": "http://localhost:3000/party/1"}
    )
    assert by_referer.status_code == 200
    by_public = await post(
        any_api,
        "/auth/refresh",
        cookie_value(by_referer),
        headers={"origin": "http://localhost:8000"},
    )
    assert by_public.status_code == 200


async def test_only_post_is_allowed(any_api: Api) -> None:
    async with browser(any_api) as client:
        for path in ("/auth/refresh", "/auth/logout"):
            for method in ("GET", "PUT", "DELETE"):
                response = await client.request(method, path, headers=ORIGIN)
                assert response.status_code == 405, (method, path)
                assert response.headers["allow"] == "POST"
                assert error_code(response) == "METHOD_NOT_ALLOWED"


async def test_missing_unknown_and_expired_cookies_are_401(any_api: Api) -> None:
    missing = await post(any_api, "/auth/refresh", None)
    assert (missing.status_code, error_code(missing)) == (401, "NOT_AUTHENTICATED")

    unknown = await post(any_api, "/auth/refresh", "not-a-token-we-issued")
    assert (unknown.status_code, error_code(unknown)) == (401, "REFRESH_TOKEN_INVALID")
    assert_cleared(unknown)

    user_id, _, cookie = await sign_in(any_api)
    async with any_api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == uuid.UUID(user_id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = await post(any_api, "/auth/refresh", cookie)
    assert (expired.status_code, error_code(expired)) == (401, "REFRESH_TOKEN_EXPIRED")


async def test_concurrent_refreshes_of_one_token_rotate_it_once(any_api: Api) -> None:
    """Two tabs at once: one rotation, one sibling (the reuse grace window), nobody signed out;
    the rotated token is used up either way. (tests/test_refresh_grace.py goes further.)"""
    user_id, _, cookie = await sign_in(any_api)
    results = await asyncio.gather(
        post(any_api, "/auth/refresh", cookie), post(any_api, "/auth/refresh", cookie)
    )
    assert [r.status_code for r in results] == [200, 200]
    successors = {cookie_value(r) for r in results}
    assert len(successors) == 2 and cookie not in successors
    for successor in successors:
        assert (await post(any_api, "/auth/refresh", successor)).status_code == 200
    # Past the window the original token is reuse again, and it ends the sign-in.
    await age_rotations(any_api, user_id)
    replay = await post(any_api, "/auth/refresh", cookie)
    assert (replay.status_code, error_code(replay)) == (401, "REFRESH_TOKEN_REUSED")
