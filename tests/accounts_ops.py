"""GraphQL documents and small helpers shared by the tests/test_accounts_*.py files."""

from __future__ import annotations

import re
from typing import Any

from tests.support import PASSWORD, Api

ERROR_FIELDS = "... on UserError { code message field }"
LIMITED = "... on UserError { code message field } ... on RateLimited { retryAfterSeconds }"

ME = "{ me { id email emailVerified displayName avatarUrl bio hasPassword } }"

LOGIN = f"""mutation($input: LoginInput!) {{ login(input: $input) {{
    __typename ... on AuthPayload {{ accessToken user {{ id }} }} {LIMITED} }} }}"""

REGISTER = f"""mutation($input: RegisterInput!) {{ register(input: $input) {{
    __typename ... on AuthPayload {{ accessToken user {{ id }} }} {LIMITED} }} }}"""

VERIFY_EMAIL = f"""mutation($input: VerifyEmailInput!) {{ verifyEmail(input: $input) {{
    __typename ... on VerifyEmailPayload {{ user {{ id email emailVerified }} }}
    {ERROR_FIELDS} }} }}"""

RESEND = f"""mutation($input: ResendVerificationEmailInput) {{
    resendVerificationEmail(input: $input) {{
    __typename ... on ResendVerificationEmailPayload {{ ok clientMutationId }} {LIMITED} }} }}"""

REQUEST_RESET = f"""mutation($input: RequestPasswordResetInput!) {{
    requestPasswordReset(input: $input) {{
    __typename ... on RequestPasswordResetPayload {{ ok }} {LIMITED} }} }}"""

RESET = f"""mutation($input: ResetPasswordInput!) {{ resetPassword(input: $input) {{
    __typename ... on ResetPasswordPayload {{ ok }} {ERROR_FIELDS} }} }}"""

UPDATE_PROFILE = f"""mutation($input: UpdateProfileInput!) {{ updateProfile(input: $input) {{
    __typename ... on UpdateProfilePayload {{ user {{ id displayName avatarUrl bio }} }}
    {ERROR_FIELDS} }} }}"""

CHANGE_PASSWORD = f"""mutation($input: ChangePasswordInput!) {{ changePassword(input: $input) {{
    __typename ... on ChangePasswordPayload {{ user {{ id }} }} {LIMITED} }} }}"""

SESSIONS = (
    """{ sessions { id createdAt lastUsedAt expiresAt userAgent ipAddress method current } }"""
)

REVOKE_SESSION = f"""mutation($input: RevokeSessionInput!) {{ revokeSession(input: $input) {{
    __typename ... on RevokeSessionPayload {{ sessionId }} {ERROR_FIELDS} }} }}"""

TOKEN_IN_LINK = re.compile(r"token=([A-Za-z0-9_-]+)")


def link_token(api: Api, mail: dict[str, Any], path: str) -> str:
    """The token of the `path` link in a mail body (the link must be on its own line)."""
    lines = [line for line in mail["body"].splitlines() if line.startswith("http")]
    assert len(lines) == 1, mail["body"]
    assert lines[0].startswith(f"{api.settings.frontend_url}{path}?token="), lines[0]
    match = TOKEN_IN_LINK.search(lines[0])
    assert match is not None
    return match.group(1)


async def mutate(
    api: Api, document: str, field: str, *, access: str | None = None, **input_values: Any
) -> dict[str, Any]:
    """Run a mutation with `input` (signed in with `access` if given); return its result."""
    result = await api.gql(document, {"input": input_values}, token=access)
    payload: dict[str, Any] = result.data[field]
    return payload


async def login(
    api: Api, email: str, password: str = PASSWORD, user_agent: str = "pytest"
) -> dict[str, Any]:
    result = await api.gql(
        LOGIN, {"input": {"email": email, "password": password}}, headers={"user-agent": user_agent}
    )
    payload: dict[str, Any] = result.data["login"]
    return payload


async def me(api: Api, token: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = (await api.gql(ME, token=token)).data["me"]
    return value


SESSION_REVOKED = {
    "errors": [
        {
            "message": "This sign-in has ended. Sign in again.",
            "extensions": {"code": "UNAUTHENTICATED", "reason": "SESSION_REVOKED"},
        }
    ]
}


async def signed_out(api: Any, token: str) -> bool:
    """True when `token` is refused because its sign-in ended: 401, `WWW-Authenticate: Bearer
    error="invalid_token"` and an UNAUTHENTICATED error, before anything runs (no `data`)."""
    result = await api.gql(ME, token=token)
    challenge = result.headers.get("www-authenticate", "")
    return (
        result.status == 401
        and challenge.startswith('Bearer error="invalid_token"')
        and result.body == SESSION_REVOKED
    )
