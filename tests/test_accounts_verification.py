"""Email verification: the mail sent on register, verifyEmail, resendVerificationEmail."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.accounts_ops import REQUEST_RESET, RESEND, VERIFY_EMAIL, link_token, me, mutate
from tests.support import Api, unique_email
from watchparty.accounts.models import EmailToken
from watchparty.kit.time import utcnow

INVALID_TOKEN = {
    "__typename": "InvalidToken",
    "code": "INVALID_TOKEN",
    "message": "This link is invalid or has expired.",
    "field": "token",
}


async def test_register_mails_a_link_that_verifies_once(any_api: Api) -> None:
    email = unique_email("verify")
    payload = await any_api.register(email, display_name="Vera")
    [mail] = await any_api.emails(email)
    assert mail["subject"] == "Confirm your email address"
    assert mail["kind"] == "verify_email"
    assert mail["body"].startswith("Hi Vera,\n")
    assert "The link expires in 24 hours and works once." in mail["body"]
    token = link_token(any_api, mail, "/verify-email")
    assert (await me(any_api, payload["accessToken"]) or {})["emailVerified"] is False

    first = await mutate(any_api, VERIFY_EMAIL, "verifyEmail", token=token)
    assert first == {
        "__typename": "VerifyEmailPayload",
        "user": {"id": payload["user"]["id"], "email": email, "emailVerified": True},
    }
    assert (await me(any_api, payload["accessToken"]) or {})["emailVerified"] is True
    again = await mutate(any_api, VERIFY_EMAIL, "verifyEmail", token=token)
    assert again == INVALID_TOKEN


async def test_verify_email_rejects_tokens_that_are_not_ours(api: Api) -> None:
    for token in ["", "nope", "x" * 5000, "A" * 43]:
        assert await mutate(api, VERIFY_EMAIL, "verifyEmail", token=token) == INVALID_TOKEN


async def test_a_reset_token_does_not_verify_an_email(api: Api) -> None:
    email = unique_email("purpose")
    await api.register(email)
    await mutate(api, REQUEST_RESET, "requestPasswordReset", email=email)
    mails = await api.emails(email, count=2)
    reset_mail = next(m for m in mails if m["kind"] == "reset_password")
    token = link_token(api, reset_mail, "/reset-password")
    assert await mutate(api, VERIFY_EMAIL, "verifyEmail", token=token) == INVALID_TOKEN


async def test_resend_sends_a_fresh_link_and_retires_the_old_one(any_api: Api) -> None:
    email = unique_email("resend")
    payload = await any_api.register(email)
    access = payload["accessToken"]
    result = await any_api.gql(RESEND, {"input": {"clientMutationId": "m-1"}}, token=access)
    assert result.data["resendVerificationEmail"] == {
        "__typename": "ResendVerificationEmailPayload",
        "ok": True,
        "clientMutationId": "m-1",
    }
    first, second = await any_api.emails(email, count=2)
    old, new = (
        link_token(any_api, first, "/verify-email"),
        link_token(any_api, second, "/verify-email"),
    )
    assert old != new

    verified = await mutate(any_api, VERIFY_EMAIL, "verifyEmail", token=new)
    assert verified["__typename"] == "VerifyEmailPayload"
    # Verifying retires every other outstanding verification link.
    assert await mutate(any_api, VERIFY_EMAIL, "verifyEmail", token=old) == INVALID_TOKEN

    # The input is optional, and a verified address has nothing to resend.
    again = (await any_api.gql(RESEND, token=access)).data["resendVerificationEmail"]
    assert again == {
        "__typename": "Conflict",
        "code": "CONFLICT",
        "message": "Your email address is already verified.",
        "field": None,
    }


async def test_resend_needs_a_signed_in_user(api: Api) -> None:
    result = (await api.gql(RESEND)).data["resendVerificationEmail"]
    assert result == {
        "__typename": "NotAuthenticated",
        "code": "NOT_AUTHENTICATED",
        "message": "You need to sign in.",
        "field": None,
    }
    # A forged token is refused before anything runs (401, tests/test_auth_bearer.py).
    forged = await api.gql(RESEND, token="not.a.jwt")
    assert forged.status == 401
    assert forged.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_verification_link_is_invalid(api: Api) -> None:
    email = unique_email("expired")
    payload = await api.register(email)
    [mail] = await api.emails(email)
    token = link_token(api, mail, "/verify-email")
    # Let the clock pass the expiry (the only way to get there without waiting 24 hours).
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(EmailToken)
            .where(EmailToken.user_id == uuid.UUID(payload["user"]["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await mutate(api, VERIFY_EMAIL, "verifyEmail", token=token) == INVALID_TOKEN
    assert (await me(api, payload["accessToken"]) or {})["emailVerified"] is False
