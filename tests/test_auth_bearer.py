"""A bearer token that authenticates nobody is a 401 (RFC 6750), never a silent anonymous 200.

Expired, tampered and revoked tokens get 401 with `WWW-Authenticate: Bearer
error="invalid_token"` and one GraphQL error (`extensions.code` UNAUTHENTICATED, `reason` saying
which), with no `data`: nothing ran. No token at all is anonymous, as before.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.accounts_ops import REVOKE_SESSION, SESSIONS, mutate
from tests.support import Api
from watchparty.access_tokens import AccessTokens

ME = "{ me { id } }"
MODERN = "application/graphql-response+json"


def with_ttl(api: Api, token: str, ttl_seconds: int) -> str:
    """A genuine token of the same sign-in, signed by the server's key, with its own lifetime."""
    claims = api.state.access_tokens.verify(token)
    short = api.settings.model_copy(update={"access_token_ttl_seconds": ttl_seconds})
    return AccessTokens(short).issue(claims.user_id, claims.session_id).token


def tampered(token: str) -> str:
    """The same token with one character of its payload changed (the signature no longer fits)."""
    header, payload, signature = token.split(".")
    flipped = ("A" if payload[5] != "A" else "B").join((payload[:5], payload[6:]))
    return ".".join((header, flipped, signature))


async def ask(
    api: Api, token: str | None, *, method: str = "POST", accept: str = "application/json"
) -> httpx.Response:
    headers = {"accept": accept}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if method == "GET":
        return await api.client.get("/graphql", params={"query": ME}, headers=headers)
    headers["content-type"] = "application/json"
    return await api.client.post("/graphql", content=json.dumps({"query": ME}), headers=headers)


def refused(response: httpx.Response, reason: str) -> bool:
    error = response.json()["errors"][0]
    return (
        response.status_code == 401
        and response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        and set(response.json()) == {"errors"}
        and error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    )


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_expired_and_tampered_tokens_are_401(any_api: Api, method: str) -> None:
    user = await any_api.register()
    expired = with_ttl(any_api, user["accessToken"], -60)
    assert refused(await ask(any_api, expired, method=method), "TOKEN_EXPIRED")
    response = await ask(any_api, tampered(user["accessToken"]), method=method)
    assert refused(response, "TOKEN_INVALID")
    assert response.json()["errors"][0]["message"] == (
        "The access token is not valid. Sign in again."
    )
    for garbage in ("not-a-token", "e30.e30.sig", "x" * 5000):
        assert refused(await ask(any_api, garbage, method=method), "TOKEN_INVALID"), garbage
    # The same genuine token still works.
    ok = await ask(any_api, user["accessToken"], method=method)
    assert (ok.status_code, ok.json()) == (200, {"data": {"me": {"id": user["user"]["id"]}}})


async def test_both_media_types_get_the_401(api: Api) -> None:
    user = await api.register()
    response = await ask(api, with_ttl(api, user["accessToken"], -60), accept=MODERN)
    assert refused(response, "TOKEN_EXPIRED")
    assert response.headers["content-type"].startswith(MODERN)


async def test_a_revoked_sign_in_is_401_like_an_expired_token(any_api: Api) -> None:
    user = await any_api.register()
    rows = (await any_api.gql(SESSIONS, token=user["accessToken"])).data["sessions"]
    result = await mutate(
        any_api,
        REVOKE_SESSION,
        "revokeSession",
        access=user["accessToken"],
        sessionId=rows[0]["id"],
    )
    assert result["__typename"] == "RevokeSessionPayload"
    response = await ask(any_api, user["accessToken"])
    assert refused(response, "SESSION_REVOKED")
    assert response.json()["errors"][0]["message"] == "This sign-in has ended. Sign in again."


async def test_no_token_is_anonymous(any_api: Api) -> None:
    for method in ("POST", "GET"):
        response = await ask(any_api, None, method=method)
        assert (response.status_code, response.json()) == (200, {"data": {"me": None}})
        assert "www-authenticate" not in response.headers
