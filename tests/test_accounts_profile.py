"""updateProfile and changePassword."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from tests.accounts_ops import CHANGE_PASSWORD, ME, UPDATE_PROFILE, login, me, mutate, signed_out
from tests.support import PASSWORD, Api, unique_email
from watchparty.accounts.models import User

NEW_PASSWORD = "another long passphrase"
NOT_AUTHENTICATED = {
    "__typename": "NotAuthenticated",
    "code": "NOT_AUTHENTICATED",
    "message": "You need to sign in.",
    "field": None,
}


def _validation(field: str, message: str) -> dict[str, Any]:
    return {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": message,
        "field": field,
    }


async def test_update_profile_changes_only_given_fields(any_api: Api) -> None:
    payload = await any_api.register(display_name="Old Name")
    access, user_id = payload["accessToken"], payload["user"]["id"]
    result = await mutate(
        any_api,
        UPDATE_PROFILE,
        "updateProfile",
        access=access,
        displayName="  New   Name ",
        avatarUrl="https://cdn.example.com/a.png?s=64",
        bio="Line one\r\nLine two  ",
    )
    expected = {
        "id": user_id,
        "displayName": "New Name",
        "avatarUrl": "https://cdn.example.com/a.png?s=64",
        "bio": "Line one\nLine two",
    }
    assert result == {"__typename": "UpdateProfilePayload", "user": expected}

    # Left out: unchanged. Null (or empty): cleared.
    cleared = await mutate(any_api, UPDATE_PROFILE, "updateProfile", access=access, bio=None)
    assert cleared["user"] == {**expected, "bio": None}
    unchanged = await mutate(any_api, UPDATE_PROFILE, "updateProfile", access=access)
    assert unchanged["user"] == {**expected, "bio": None}
    emptied = await mutate(any_api, UPDATE_PROFILE, "updateProfile", access=access, avatarUrl="")
    assert emptied["user"] == {**expected, "bio": None, "avatarUrl": None}
    viewer = await me(any_api, access)
    assert viewer is not None
    assert (viewer["displayName"], viewer["avatarUrl"], viewer["bio"]) == ("New Name", None, None)


BAD_PROFILES = [
    ({"displayName": ""}, "displayName", "Display name is required."),
    ({"displayName": "   "}, "displayName", "Display name is required."),
    ({"displayName": None}, "displayName", "Display name is required."),
    ({"displayName": "x" * 51}, "displayName", "Display name must be at most 50 characters."),
    # C0 controls are refused for every input before any resolver runs (`gql.inputs`).
    ({"displayName": "bad\x00name"}, "displayName", "Control characters are not allowed."),
    ({"displayName": "evil\u202ename"}, "displayName", "Display name contains control characters."),
    (
        {"avatarUrl": "ftp://example.com/a.png"},
        "avatarUrl",
        "Avatar URL must be an http:// or https:// URL.",
    ),
    (
        {"avatarUrl": "javascript:alert(1)"},
        "avatarUrl",
        "Avatar URL must be an http:// or https:// URL.",
    ),
    (
        {"avatarUrl": "/relative/a.png"},
        "avatarUrl",
        "Avatar URL must be an http:// or https:// URL.",
    ),
    ({"avatarUrl": "https://"}, "avatarUrl", "Avatar URL must be an http:// or https:// URL."),
    (
        {"avatarUrl": "https://exa mple.com/a.png"},
        "avatarUrl",
        "Avatar URL must be an http:// or https:// URL.",
    ),
    (
        {"avatarUrl": "https://example.com:99999/a"},
        "avatarUrl",
        "Avatar URL must be an http:// or https:// URL.",
    ),
    (
        {"avatarUrl": "https://example.com/" + "a" * 2030},
        "avatarUrl",
        "Avatar URL must be at most 2048 characters.",
    ),
    (
        {"avatarUrl": "https://me:pw@example.com/a.png"},
        "avatarUrl",
        "Avatar URL must not contain a user name or password.",
    ),
    ({"bio": "x" * 501}, "bio", "Bio must be at most 500 characters."),
    ({"bio": "hi\x07there"}, "bio", "Control characters are not allowed."),
    ({"bio": "hi\x85there"}, "bio", "Bio contains control characters."),
]


@pytest.mark.parametrize(("values", "field", "message"), BAD_PROFILES)
async def test_update_profile_validation(
    api: Api, values: dict[str, Any], field: str, message: str
) -> None:
    payload = await api.register(display_name="Keeper")
    access = payload["accessToken"]
    # A valid field beside the bad one must not be applied either: nothing is half-applied.
    values = {"displayName": "Changed", **values} if field != "displayName" else values
    result = await mutate(api, UPDATE_PROFILE, "updateProfile", access=access, **values)
    assert result == _validation(field, message)
    viewer = await me(api, access)
    assert viewer is not None
    assert (viewer["displayName"], viewer["avatarUrl"], viewer["bio"]) == ("Keeper", None, None)


async def test_update_profile_accepts_limits_exactly(api: Api) -> None:
    access = (await api.register())["accessToken"]
    url = "http://example.com/" + "a" * (2048 - len("http://example.com/"))
    result = await mutate(
        api,
        UPDATE_PROFILE,
        "updateProfile",
        access=access,
        displayName="n" * 50,
        avatarUrl=url,
        bio="b" * 500,
    )
    assert result["user"]["displayName"] == "n" * 50
    assert result["user"]["avatarUrl"] == url
    assert result["user"]["bio"] == "b" * 500


async def test_account_mutations_need_a_signed_in_user(api: Api) -> None:
    assert await mutate(api, UPDATE_PROFILE, "updateProfile", bio="x") == NOT_AUTHENTICATED
    anonymous = await mutate(
        api, CHANGE_PASSWORD, "changePassword", currentPassword=PASSWORD, newPassword=NEW_PASSWORD
    )
    assert anonymous == NOT_AUTHENTICATED
    # A forged token is not "anonymous": 401 before anything runs (gql/view.py).
    forged = await api.gql(UPDATE_PROFILE, {"input": {"bio": "x"}}, token="e30.e30.sig")
    assert forged.status == 401
    assert forged.body["errors"][0]["extensions"] == {
        "code": "UNAUTHENTICATED",
        "reason": "TOKEN_INVALID",
    }


async def test_change_password_signs_out_other_sessions_only(any_api: Api) -> None:
    email = unique_email("change")
    first = await any_api.register(email, display_name="Cam")
    second = await login(any_api, email, user_agent="phone")
    third = await login(any_api, email, user_agent="tablet")
    result = await mutate(
        any_api,
        CHANGE_PASSWORD,
        "changePassword",
        access=first["accessToken"],
        currentPassword=PASSWORD,
        newPassword=NEW_PASSWORD,
    )
    assert result == {"__typename": "ChangePasswordPayload", "user": {"id": first["user"]["id"]}}

    assert (await me(any_api, first["accessToken"]) or {}).get("email") == email
    assert await signed_out(any_api, second["accessToken"])
    assert await signed_out(any_api, third["accessToken"])
    assert (await login(any_api, email, PASSWORD))["code"] == "INVALID_CREDENTIALS"
    assert (await login(any_api, email, NEW_PASSWORD))["__typename"] == "AuthPayload"

    mails = await any_api.emails(email, count=2)
    notice = next(m for m in mails if m["kind"] == "password_changed")
    assert notice["subject"] == "Your password was changed"
    assert notice["body"].startswith("Hi Cam,\n")
    assert f"{any_api.settings.frontend_url}/forgot-password" in notice["body"]


async def test_change_password_errors_change_nothing(api: Api) -> None:
    email = unique_email("change-errors")
    first = await api.register(email)
    other = await login(api, email, user_agent="other")
    access = first["accessToken"]
    cases = [
        (
            {"currentPassword": "wrong password!", "newPassword": NEW_PASSWORD},
            {
                "__typename": "InvalidCredentials",
                "code": "INVALID_CREDENTIALS",
                "message": "Current password is incorrect.",
                "field": "currentPassword",
            },
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": "short"},
            _validation("newPassword", "Password must be at least 10 characters."),
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": "p" * 129},
            _validation("newPassword", "Password must be at most 128 characters."),
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": "password123"},
            _validation("newPassword", "This password is too easy to guess."),
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": PASSWORD},
            _validation("newPassword", "Choose a password different from the current one."),
        ),
    ]
    for values, expected in cases:
        result = await mutate(api, CHANGE_PASSWORD, "changePassword", access=access, **values)
        assert result == expected, values
    # Nothing was applied: the old password works and the other session is still signed in.
    assert (await login(api, email, PASSWORD))["__typename"] == "AuthPayload"
    assert await me(api, other["accessToken"]) is not None


async def test_change_password_without_a_password_points_to_reset(api: Api) -> None:
    email = unique_email("no-password")
    payload = await api.register(email)
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(User).where(User.email == email).values(password_hash=None)
        )
    result = await mutate(
        api,
        CHANGE_PASSWORD,
        "changePassword",
        access=payload["accessToken"],
        currentPassword="",
        newPassword=NEW_PASSWORD,
    )
    assert result == _validation(
        "currentPassword",
        "Your account has no password yet. Use “Forgot password” to set one by email.",
    )
    viewer = (await api.gql(ME, token=payload["accessToken"])).data["me"]
    assert viewer["hasPassword"] is False
