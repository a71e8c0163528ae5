"""`GET /auth/oauth/{provider}/login` and `/callback`: social sign-in ending on the frontend.

What the callback must check (state, PKCE verifier, OIDC nonce, where to go next) travels in a
short-lived cookie scoped to /auth/oauth, encrypted and authenticated (JWE, A256GCM) with a key
derived from the JWT keys. Nothing is kept in process memory, so the login and the callback may
be served by different API processes. SameSite=Lax still sends it on the provider's top-level
redirect back to us. One flow per browser at a time: a second login replaces the first's cookie.

The callback never fails with a 500: every error ends in a redirect to
`{FRONTEND_URL}/login?error=<code>` with one of the codes in `ERROR_CODES`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import Key, KeySet, OctKey
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from watchparty.accounts import oauth as oauth_service
from watchparty.accounts.oauth_providers import (
    DocumentCache,
    Provider,
    ProviderError,
    configured_provider,
)
from watchparty.accounts.service import Client, SignIn
from watchparty.config import Settings
from watchparty.http.cookies import set_refresh_cookie
from watchparty.state import AppState

log = logging.getLogger(__name__)

FLOW_COOKIE = "wp_oauth"
FLOW_COOKIE_PATH = "/auth/oauth"
FLOW_TTL_SECONDS = 600
_JWE = JWERegistry(algorithms=["dir", "A256GCM"])
_KEY_CONTEXT = b"watchparty/oauth-flow-cookie/v1"

# The `error` values the frontend's /login page may receive.
ERROR_CODES = {
    "oauth_denied": "the person declined at the provider",
    "oauth_state_invalid": "missing, expired or mismatched state (or a replayed callback)",
    "oauth_provider_error": "the provider refused the code exchange or answered nonsense",
    "oauth_unavailable": "the provider could not be reached",
    "oauth_invalid_token": "the OpenID Connect id_token failed validation",
    "oauth_email_missing": "the provider shared no email address",
    "oauth_email_unverified": "the email belongs to an account and the provider did not verify it",
    "account_disabled": "the account is disabled",
    "oauth_failed": "anything unexpected (logged)",
}


# -- the flow cookie ---------------------------------------------------------------------------


def _flow_keys(settings: Settings) -> tuple[KeySet, OctKey]:
    """One 256-bit key per JWT kid, derived so the flow cookie never shares a key with JWTs."""
    keys: list[Key] = [
        OctKey.import_key(
            hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest(), {"kid": kid}
        )
        for kid, secret in settings.signing_keys.items()
    ]
    active = next(k for k in keys if k.kid == settings.jwt_active_kid)
    assert isinstance(active, OctKey)
    return KeySet(keys), active


def seal_flow(settings: Settings, claims: dict[str, Any]) -> str:
    _, key = _flow_keys(settings)
    body = {**claims, "exp": int(time.time()) + FLOW_TTL_SECONDS}
    header = {"alg": "dir", "enc": "A256GCM", "kid": key.kid}
    return jwt.encode(header, body, key, registry=_JWE)


def open_flow(settings: Settings, sealed: str | None) -> dict[str, Any] | None:
    if not sealed or len(sealed) > 4096:
        return None
    keys, _ = _flow_keys(settings)
    try:
        token = jwt.decode(sealed, keys, registry=_JWE)
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(token.claims)
    except (JoseError, ValueError, TypeError):
        return None
    return token.claims


def _set_flow_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        value,
        max_age=FLOW_TTL_SECONDS,
        path=FLOW_COOKIE_PATH,
        httponly=True,
        secure=bool(settings.cookie_secure),
        samesite="lax",
    )


def _clear_flow_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        FLOW_COOKIE,
        path=FLOW_COOKIE_PATH,
        httponly=True,
        secure=bool(settings.cookie_secure),
        samesite="lax",
    )


# -- where to send the browser afterwards ------------------------------------------------------


def safe_next(raw: str | None, frontend_url: str) -> str:
    """A path on the frontend: relative (`/x?y`) or an URL under FRONTEND_URL. Else "/".

    Protocol-relative (`//evil`), backslash tricks, schemes and control characters are refused,
    so the redirect can never leave the frontend.
    """
    if not raw or len(raw) > 2000 or any(ord(c) < 32 or c == "\\" for c in raw):
        return "/"
    front = urlsplit(frontend_url)
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        if (parts.scheme, parts.netloc.lower()) != (front.scheme, front.netloc.lower()):
            return "/"
        base = front.path.rstrip("/")
        if base and not (parts.path == base or parts.path.startswith(base + "/")):
            return "/"
        path = parts.path[len(base) :] or "/"
    else:
        path = parts.path
        if not path.startswith("/") or path.startswith("//"):
            return "/"
    if not path.startswith("/") or path.startswith("//"):
        return "/"
    return (
        path
        + (f"?{parts.query}" if parts.query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def _frontend(settings: Settings, path: str) -> str:
    return settings.frontend_url.rstrip("/") + path


def _error_redirect(settings: Settings, code: str) -> RedirectResponse:
    response = RedirectResponse(
        _frontend(settings, "/login?" + urlencode({"error": code})), status_code=302
    )
    response.headers["cache-control"] = "no-store"
    _clear_flow_cookie(response, settings)
    return response


# -- endpoints ---------------------------------------------------------------------------------


def _provider(request: Request) -> Provider | None:
    state: AppState = request.app.state.wp
    cache = state.extras.setdefault("oauth_documents", DocumentCache())
    return configured_provider(state.settings, request.path_params["provider"], cache)


def _not_found() -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "NOT_FOUND", "message": "Unknown sign-in provider."}}, status_code=404
    )


LOGIN_PATH = "/auth/oauth/{provider}/login"


def login_url(base_url: str, provider: str) -> str:
    """Where the frontend sends a browser to sign in with `provider` (`clientConfig`)."""
    return base_url.rstrip("/") + LOGIN_PATH.format(provider=provider)


def redirect_uri(settings: Settings, provider: str) -> str:
    return f"{settings.public_url.rstrip('/')}/auth/oauth/{provider}/callback"


async def login(request: Request) -> Response:
    provider = _provider(request)
    if provider is None:
        return _not_found()
    settings: Settings = request.app.state.wp.settings
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters, within PKCE's 43..128
    nonce = secrets.token_urlsafe(24) if provider.uses_nonce else None
    flow = {
        "provider": provider.name,
        "state": state,
        "verifier": verifier,
        "nonce": nonce,
        "next": safe_next(request.query_params.get("next"), settings.frontend_url),
    }
    try:
        url = await provider.authorization_url(
            redirect_uri=redirect_uri(settings, provider.name),
            state=state,
            code_verifier=verifier,
            nonce=nonce,
        )
    except ProviderError as exc:
        log.warning("oauth login failed", extra={"provider": provider.name, "reason": exc.detail})
        return _error_redirect(settings, exc.code)
    response = RedirectResponse(url, status_code=302)
    response.headers["cache-control"] = "no-store"
    _set_flow_cookie(response, settings, seal_flow(settings, flow))
    return response


async def callback(request: Request) -> Response:
    provider = _provider(request)
    if provider is None:
        return _not_found()
    state: AppState = request.app.state.wp
    settings = state.settings
    try:
        return await _complete(request, state, provider)
    except Exception:  # the contract is "never a 500": log it and send the person back
        log.exception("oauth callback failed", extra={"provider": provider.name})
        return _error_redirect(settings, "oauth_failed")


async def _complete(request: Request, state: AppState, provider: Provider) -> Response:
    settings = state.settings
    params = request.query_params
    flow = open_flow(settings, request.cookies.get(FLOW_COOKIE))
    if params.get("error"):
        denied = params["error"] == "access_denied"
        return _error_redirect(settings, "oauth_denied" if denied else "oauth_provider_error")
    given_state = params.get("state", "")
    if (
        flow is None
        or flow.get("provider") != provider.name
        or not isinstance(flow.get("state"), str)
        or not hmac.compare_digest(given_state.encode(), str(flow["state"]).encode())
    ):
        return _error_redirect(settings, "oauth_state_invalid")
    code = params.get("code")
    if not code:
        return _error_redirect(settings, "oauth_provider_error")
    try:
        identity = await provider.identity(
            code=code,
            redirect_uri=redirect_uri(settings, provider.name),
            code_verifier=str(flow["verifier"]),
            nonce=flow.get("nonce"),
        )
    except ProviderError as exc:
        log.warning(
            "oauth exchange failed", extra={"provider": provider.name, "reason": exc.detail}
        )
        return _error_redirect(settings, exc.code)
    client = Client(
        ip=request.client.host if request.client else "unknown",
        user_agent=request.headers.get("user-agent"),
    )
    try:
        signed = await _sign_in(state, client, identity)
    except oauth_service.EmailNotVerified:
        return _error_redirect(settings, "oauth_email_unverified")
    except oauth_service.EmailMissing:
        return _error_redirect(settings, "oauth_email_missing")
    except oauth_service.AccountDisabled:
        return _error_redirect(settings, "account_disabled")
    response = RedirectResponse(_frontend(settings, str(flow.get("next") or "/")), status_code=302)
    response.headers["cache-control"] = "no-store"
    _clear_flow_cookie(response, settings)
    set_refresh_cookie(response, settings, signed.refresh_token)
    return response


async def _sign_in(
    state: AppState, client: Client, identity: oauth_service.ProviderIdentity
) -> SignIn:
    """One unit of work; retried once when a concurrent first sign-in created the same rows."""
    for attempt in (1, 2):
        try:
            async with state.unit_of_work() as uow:
                return await oauth_service.sign_in(uow, client, identity)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


routes = [
    Route(LOGIN_PATH, login, methods=["GET"]),
    Route("/auth/oauth/{provider}/callback", callback, methods=["GET"]),
]
