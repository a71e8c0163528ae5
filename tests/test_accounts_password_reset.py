"""Password reset: requestPasswordReset (never reveals accounts) and resetPassword."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.accounts_ops import (
    ME,
    REQUEST_RESET,
    RESET,
    link_token,
    login,
    me,
    mutate,
    signed_out,
)
from tests.support import PASSWORD, Api, unique_email
from watchparty.accounts.models import EmailToken, User
from watchparty.kit.time import utcnow

NEW_PASSWORD = "a brand new passphrase"
OK = {"__typename": "RequestPasswordResetPayload", "ok": True}
INVALID_TOKEN = {
    "__typename": "InvalidToken",
    "code": "INVALID_TOKEN",
    "message": "This link is invalid or has expired.",
    "field": "token",
}


async def _reset_token(api: Api, email: str, *, count: int) -> str:
    """Request a reset and return the token of the newest reset mail (`count` mails in total)."""
    assert await mutate(api, REQUEST_RESET, "requestPasswordReset", email=email) == OK
    mails = await api.emails(email, count=count)
    assert len(mails) == count
    resets = [m for m in mails if m["kind"] == "reset_password"]
    return link_token(api, resets[-1], "/reset-password")


async def test_password_reset_end_to_end(any_api: Api) -> None:
    email = unique_email("reset")
    registered = await any_api.register(email, display_name="Rita")
    signed_in = await login(any_api, email)
    assert signed_in["__typename"] == "AuthPayload"

    assert await mutate(any_api, REQUEST_RESET, "requestPasswordReset", email=email.upper()) == OK
    verify_mail, reset_mail = await any_api.emails(email, count=2)
    assert verify_mail["kind"] == "verify_email"
    assert reset_mail["subject"] == "Reset your password"
    assert reset_mail["kind"] == "reset_password"
    assert reset_mail["body"].startswith("Hi Rita,\n")
    assert "The link expires in 1 hour and works once." in reset_mail["body"]
    token = link_token(any_api, reset_mail, "/reset-password")

    # A weak choice is refused without using up the link.
    weak = await mutate(any_api, RESET, "resetPassword", token=token, newPassword="short")
    assert weak == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": "Password must be at least 10 characters.",
        "field": "newPassword",
    }
    done = await mutate(any_api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
    assert done == {"__typename": "ResetPasswordPayload", "ok": True}
    again = await mutate(any_api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
    assert again == INVALID_TOKEN

    old = await login(any_api, email, PASSWORD)
    assert (old["__typename"], old["code"]) == ("InvalidCredentials", "INVALID_CREDENTIALS")
    # Every session, including those opened before the reset, is signed out.
    assert await signed_out(any_api, registered["accessToken"])
    assert await signed_out(any_api, signed_in["accessToken"])
    fresh = await login(any_api, email, NEW_PASSWORD)
    assert fresh["__typename"] == "AuthPayload"
    # The reset proved control of the mailbox.
    assert (await me(any_api, fresh["accessToken"]) or {})["emailVerified"] is True


async def test_unknown_email_gets_the_same_answer_and_no_mail(any_api: Api) -> None:
    unknown = unique_email("nobody")
    known = unique_email("somebody")
    await any_api.register(known)
    unknown_result = await any_api.gql(REQUEST_RESET, {"input": {"email": unknown}})
    known_result = await any_api.gql(REQUEST_RESET, {"input": {"email": known}})
    assert unknown_result.data == known_result.data == {"requestPasswordReset": OK}
    assert unknown_result.status == known_result.status == 200
    # The known address's mail arriving means the unknown request's job would have run too.
    assert len(await any_api.emails(known, count=2)) == 2
    assert await any_api.emails(unknown, count=1, timeout=0.2) == []


async def test_request_reset_rejects_malformed_addresses(api: Api) -> None:
    cases = {
        "not-an-email": "Enter a valid email address.",
        "": "Enter a valid email address.",
        "a@" + "b" * 330 + ".com": "Email address is too long.",
    }
    for email, message in cases.items():
        result = await mutate(api, REQUEST_RESET, "requestPasswordReset", email=email)
        assert result == {
            "__typename": "ValidationError",
            "code": "VALIDATION",
            "message": message,
            "field": "email",
        }, email


async def test_using_one_reset_link_retires_the_others(api: Api) -> None:
    email = unique_email("two-links")
    await api.register(email)
    first = await _reset_token(api, email, count=2)
    second = await _reset_token(api, email, count=3)
    assert first != second
    done = await mutate(api, RESET, "resetPassword", token=second, newPassword=NEW_PASSWORD)
    assert done["__typename"] == "ResetPasswordPayload"
    assert await mutate(api, RESET, "resetPassword", token=first, newPassword=NEW_PASSWORD) == (
        INVALID_TOKEN
    )


async def test_reset_rejects_bad_and_expired_tokens(api: Api) -> None:
    for token in ["", "garbage", "y" * 10_000]:
        result = await mutate(api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
        assert result == INVALID_TOKEN
    email = unique_email("late")
    payload = await api.register(email)
    token = await _reset_token(api, email, count=2)
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(EmailToken)
            .where(EmailToken.user_id == uuid.UUID(payload["user"]["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    result = await mutate(api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
    assert result == INVALID_TOKEN
    assert (await login(api, email))["__typename"] == "AuthPayload"  # password unchanged


async def test_an_account_without_password_sets_one_by_reset(api: Api) -> None:
    email = unique_email("social")
    payload = await api.register(email)
    # Stand in for an account created through social sign-in: it has no password.
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(User).where(User.email == email).values(password_hash=None)
        )
    viewer = (await api.gql(ME, token=payload["accessToken"])).data["me"]
    assert viewer["hasPassword"] is False
    token = await _reset_token(api, email, count=2)
    done = await mutate(api, RESET, "resetPassword", token=token, newPassword=NEW_PASSWORD)
    assert done["__typename"] == "ResetPasswordPayload"
    fresh = await login(api, email, NEW_PASSWORD)
    assert (await me(api, fresh["accessToken"]) or {})["hasPassword"] is True
