"""Rate limits on sign-in, registration, password reset, password change and verification mail.

Each test builds its own app with low limits (and its own Redis key prefix), so the shared
fixtures keep their relaxed limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.accounts_ops import (
    CHANGE_PASSWORD,
    REGISTER,
    REQUEST_RESET,
    RESEND,
    RESET,
    link_token,
    login,
    mutate,
)
from tests.support import PASSWORD, Api, make_settings, running_app, unique_email

RESET_OK = {"__typename": "RequestPasswordResetPayload", "ok": True}


def assert_limited(result: dict[str, Any], window: int) -> None:
    assert result["__typename"] == "RateLimited", result
    seconds = result["retryAfterSeconds"]
    assert 1 <= seconds <= window
    assert result == {
        "__typename": "RateLimited",
        "code": "RATE_LIMITED",
        "message": f"Too many attempts. Try again in {seconds} seconds.",
        "field": None,
        "retryAfterSeconds": seconds,
    }


async def _login_ip_limit(api: Api) -> None:
    for _ in range(3):
        attempt = await login(api, unique_email("guess"), "wrong password 1")
        assert attempt["code"] == "INVALID_CREDENTIALS"
    assert_limited(await login(api, unique_email("guess"), "wrong password 1"), 60)


async def test_login_is_limited_per_ip(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_login_ip="3/60"
    )
    async with running_app(settings) as api:
        await _login_ip_limit(api)


async def test_login_is_limited_per_ip_when_embedded(tmp_path: Path) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path, rate_limit_login_ip="3/60")
    async with running_app(settings) as api:
        await _login_ip_limit(api)


async def test_login_is_limited_per_account_until_a_password_reset(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_login_account="2/60"
    )
    async with running_app(settings) as api:
        email = unique_email("target")
        await api.register(email)
        for _ in range(2):
            assert (await login(api, email, "wrong password 1"))["code"] == "INVALID_CREDENTIALS"
        # Even the right password is refused while the account is limited...
        assert_limited(await login(api, email.upper(), PASSWORD), 60)
        # ...other accounts from the same address are not affected...
        other = unique_email("bystander")
        await api.register(other)
        assert (await login(api, other))["__typename"] == "AuthPayload"
        # ...and the owner gets back in at once through a password reset.
        assert await mutate(api, REQUEST_RESET, "requestPasswordReset", email=email) == RESET_OK
        reset_mail = (await api.emails(email, count=2))[-1]
        token = link_token(api, reset_mail, "/reset-password")
        new_password = "recovered passphrase"
        done = await mutate(api, RESET, "resetPassword", token=token, newPassword=new_password)
        assert done["__typename"] == "ResetPasswordPayload"
        assert (await login(api, email, new_password))["__typename"] == "AuthPayload"


async def test_register_is_limited_per_ip(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_register_ip="2/60"
    )
    async with running_app(settings) as api:
        await api.register()
        await api.register()
        result = await api.gql(
            REGISTER,
            {"input": {"email": unique_email(), "password": PASSWORD, "displayName": "Third"}},
        )
        assert_limited(result.data["register"], 60)


async def test_password_reset_is_limited_per_ip(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_reset_ip="2/60"
    )
    async with running_app(settings) as api:
        for _ in range(2):
            result = await mutate(api, REQUEST_RESET, "requestPasswordReset", email=unique_email())
            assert result == RESET_OK
        limited = await mutate(api, REQUEST_RESET, "requestPasswordReset", email=unique_email())
        assert_limited(limited, 60)


async def test_password_reset_is_limited_per_account_alike_for_unknown_addresses(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_reset_account="2/3600"
    )
    async with running_app(settings) as api:
        known, unknown = unique_email("known"), unique_email("unknown")
        await api.register(known)
        answers: dict[str, list[str]] = {}
        for email in (known, unknown):
            results = [
                await mutate(api, REQUEST_RESET, "requestPasswordReset", email=email)
                for _ in range(3)
            ]
            assert results[:2] == [RESET_OK, RESET_OK]
            assert_limited(results[2], 3600)
            answers[email] = [r["__typename"] for r in results]
        # Being limited reveals no more about an address than the answer itself does.
        assert answers[known] == answers[unknown]
        assert len(await api.emails(known, count=3)) == 3  # verification + two resets


async def test_change_password_guesses_are_limited(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_login_account="2/60"
    )
    async with running_app(settings) as api:
        access = (await api.register())["accessToken"]
        values = {"currentPassword": "guess number one", "newPassword": "replacement phrase"}
        for _ in range(2):
            result = await mutate(api, CHANGE_PASSWORD, "changePassword", access=access, **values)
            assert result["code"] == "INVALID_CREDENTIALS"
        limited = await mutate(
            api,
            CHANGE_PASSWORD,
            "changePassword",
            access=access,
            currentPassword=PASSWORD,
            newPassword="replacement phrase",
        )
        assert_limited(limited, 60)


async def test_verification_resend_is_limited(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_verify_resend="1/600"
    )
    async with running_app(settings) as api:
        access = (await api.register())["accessToken"]
        first = (await api.gql(RESEND, token=access)).data["resendVerificationEmail"]
        assert first == {
            "__typename": "ResendVerificationEmailPayload",
            "ok": True,
            "clientMutationId": None,
        }
        second = (await api.gql(RESEND, token=access)).data["resendVerificationEmail"]
        assert_limited(second, 600)
