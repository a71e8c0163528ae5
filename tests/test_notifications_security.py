"""Security notifications, produced by the account flows themselves over GraphQL and the refresh
endpoint: a sign-in from a new device, a password changed or reset, a sign-in ended because its
refresh token was used twice (and nothing for one's own sign-out or revokeSession)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tests.accounts_ops import (
    CHANGE_PASSWORD,
    REQUEST_RESET,
    RESET,
    REVOKE_SESSION,
    SESSIONS,
    link_token,
    login,
    mutate,
)
from tests.notifications_ops import feed
from tests.parties_ops import Person
from tests.support import PASSWORD, Api, unique_email
from tests.test_auth_refresh import LOGIN, age_rotations, browser, cookie_value, post

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0"
FIREFOX_WINDOWS_NEWER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
EDGE_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0"
)
NEW_PASSWORD = "another long passphrase"


def minute(iso: str) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"


async def notices(api: Api, token: str) -> list[dict[str, Any]]:
    page = await feed(api, Person(token=token, id="", name=""))
    return [edge["node"] for edge in page["edges"]]


def summary(node: dict[str, Any]) -> tuple[Any, ...]:
    return (node["kind"], node["title"], node["body"], node["actionPath"], node["actor"])


async def current_session(api: Api, token: str) -> dict[str, Any]:
    rows = (await api.gql(SESSIONS, token=token)).data["sessions"]
    found: dict[str, Any] = next(row for row in rows if row["current"])
    return found


async def test_a_sign_in_from_a_new_device_is_notified_once(any_api: Api) -> None:
    email = unique_email("device")
    registered = await any_api.register(email)  # the very first sign-in: no notice
    token = registered["accessToken"]
    assert await notices(any_api, token) == []

    firefox = await login(any_api, email, user_agent=FIREFOX_WINDOWS)
    session = await current_session(any_api, firefox["accessToken"])
    expected = (
        "NEW_SIGN_IN",
        "New sign-in to your account",
        f"Firefox on Windows, IP 127.0.0.1, at {minute(session['createdAt'])}. "
        "Not you? Sign it out and change your password.",
        "/settings/sessions",
        None,
    )
    found = await notices(any_api, token)
    assert [summary(n) for n in found] == [expected]
    assert found[0]["subjectType"] is None and found[0]["actorCount"] == 0

    # The same device again, a newer browser version, and the registering client: not news.
    await login(any_api, email, user_agent=FIREFOX_WINDOWS)
    await login(any_api, email, user_agent=FIREFOX_WINDOWS_NEWER)
    await login(any_api, email, user_agent=registered_agent(any_api))
    assert len(await notices(any_api, token)) == 1

    # Another device is news. A device whose sign-in was revoked since is still a known one.
    phone = await login(any_api, email, user_agent=SAFARI_IPHONE)
    phone_session = await current_session(any_api, phone["accessToken"])
    revoked = await mutate(
        any_api,
        REVOKE_SESSION,
        "revokeSession",
        access=token,
        sessionId=phone_session["id"],
    )
    assert revoked["__typename"] == "RevokeSessionPayload"  # one's own revocation: no notice
    await login(any_api, email, user_agent=SAFARI_IPHONE)
    await login(any_api, email, user_agent=EDGE_MAC)
    found = await notices(any_api, token)
    assert [(n["kind"], n["body"].split(",")[0]) for n in found] == [
        ("NEW_SIGN_IN", "Edge on macOS"),
        ("NEW_SIGN_IN", "Safari on iOS"),
        ("NEW_SIGN_IN", "Firefox on Windows"),
    ]
    created = datetime.fromisoformat(found[0]["createdAt"])
    assert (datetime.fromisoformat(found[0]["expiresAt"]) - created).days == 90


def registered_agent(api: Api) -> str:
    agent: str = api.client.headers["user-agent"]
    return agent


async def test_a_client_without_a_browser_name_is_its_own_device(any_api: Api) -> None:
    email = unique_email("agent")
    token = (await any_api.register(email))["accessToken"]
    await login(any_api, email, user_agent="WatchParty-Android/3.2")
    await login(any_api, email, user_agent="watchparty-android/3.2")  # case folded: the same
    await login(any_api, email, user_agent="WatchParty-Android/3.3")  # another version string
    found = await notices(any_api, token)
    assert [n["body"].split(",")[0] for n in found] == [
        "WatchParty-Android/3.3",
        "WatchParty-Android/3.2",
    ]


async def test_changing_the_password_is_notified(any_api: Api) -> None:
    email = unique_email("changed")
    await any_api.register(email)
    laptop = await login(any_api, email, user_agent=EDGE_MAC)
    session = await current_session(any_api, laptop["accessToken"])
    changed = await mutate(
        any_api,
        CHANGE_PASSWORD,
        "changePassword",
        access=laptop["accessToken"],
        currentPassword=PASSWORD,
        newPassword=NEW_PASSWORD,
    )
    assert changed["__typename"] == "ChangePasswordPayload"
    found = await notices(any_api, laptop["accessToken"])
    assert [n["kind"] for n in found] == ["PASSWORD_CHANGED", "NEW_SIGN_IN"]
    at = datetime.fromisoformat(found[0]["createdAt"])
    assert summary(found[0]) == (
        "PASSWORD_CHANGED",
        "Your password was changed",
        f"Changed from Edge on macOS, IP 127.0.0.1, at {at:%Y-%m-%d %H:%M} UTC; your other "
        "sign-ins were signed out. Not you? Reset your password now.",
        "/settings/security",
        None,
    )
    assert session["userAgent"] == EDGE_MAC
    # A wrong current password changes nothing and tells nobody.
    wrong = await mutate(
        any_api,
        CHANGE_PASSWORD,
        "changePassword",
        access=laptop["accessToken"],
        currentPassword="not the password at all",
        newPassword="yet another passphrase",
    )
    assert wrong["__typename"] == "InvalidCredentials"
    assert len(await notices(any_api, laptop["accessToken"])) == 2


async def test_a_password_reset_is_notified(any_api: Api) -> None:
    email = unique_email("reset")
    await any_api.register(email)
    assert (await mutate(any_api, REQUEST_RESET, "requestPasswordReset", email=email))["ok"]
    reset_mail = (await any_api.emails(email, count=2))[-1]
    token = link_token(any_api, reset_mail, "/reset-password")
    done = await mutate(any_api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
    assert done == {"__typename": "ResetPasswordPayload", "ok": True}

    # Signing in again afterwards (from the registering client: not a new device).
    again = await login(any_api, email, NEW_PASSWORD, user_agent=registered_agent(any_api))
    found = await notices(any_api, again["accessToken"])
    at = datetime.fromisoformat(found[0]["createdAt"])
    assert [summary(n) for n in found] == [
        (
            "PASSWORD_CHANGED",
            "Your password was reset",
            f"Reset with the emailed link at {at:%Y-%m-%d %H:%M} UTC; every sign-in was signed "
            "out. Not you? Reset your password now.",
            "/settings/security",
            None,
        )
    ]


async def browser_login(api: Api, email: str) -> tuple[str, str]:
    """`login` from a browser (the registering client's User-Agent, so no new device);
    returns (access token, refresh cookie)."""
    async with browser(api) as client:
        response = await client.post(
            "/graphql",
            content=json.dumps(
                {"query": LOGIN, "variables": {"input": {"email": email, "password": PASSWORD}}}
            ),
            headers={"content-type": "application/json"},
        )
    payload = response.json()["data"]["login"]
    assert payload["__typename"] == "AuthPayload", payload
    return payload["accessToken"], cookie_value(response)


async def test_a_reused_refresh_token_is_notified_once(any_api: Api) -> None:
    email = unique_email("reuse")
    user_id = (await any_api.register(email))["user"]["id"]
    _, first = await browser_login(any_api, email)
    rotated = await post(any_api, "/auth/refresh", first)
    assert rotated.status_code == 200
    second = cookie_value(rotated)
    watcher, _ = await browser_login(any_api, email)
    assert await notices(any_api, watcher) == []

    await age_rotations(any_api, user_id)
    replay = await post(any_api, "/auth/refresh", first)
    assert replay.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    found = await notices(any_api, watcher)
    at = datetime.fromisoformat(found[0]["createdAt"])
    assert [summary(n) for n in found] == [
        (
            "SESSION_REVOKED",
            "A sign-in was signed out",
            f"A sign-in ({registered_agent(any_api)}) was signed out because its token was "
            f"used twice, at {at:%Y-%m-%d %H:%M} UTC. If it was yours, sign in again; if not, "
            "change your password.",
            "/settings/sessions",
            None,
        )
    ]
    # Replaying again (that sign-in has already ended), the family's newest token, and one's
    # own sign-out: no further notice.
    assert (await post(any_api, "/auth/refresh", first)).json()["error"]["code"] == (
        "REFRESH_TOKEN_REUSED"
    )
    assert (await post(any_api, "/auth/refresh", second)).status_code == 401
    _, cookie = await browser_login(any_api, email)
    assert (await post(any_api, "/auth/logout", cookie)).status_code == 204
    assert [n["kind"] for n in await notices(any_api, watcher)] == ["SESSION_REVOKED"]
