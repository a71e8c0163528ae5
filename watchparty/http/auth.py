"""`POST /auth/refresh` and `POST /auth/logout`: the endpoints that read the refresh cookie.

A cookie is sent by the browser whoever made the page, so both endpoints also require the request
to come from one of our origins (the `Origin` header, or `Referer` when a browser omits Origin):
SameSite=Lax on the cookie is the first line, this check the second.

Errors are JSON `{"error": {"code", "message"}}` with these stable codes:
  401 NOT_AUTHENTICATED (no cookie), REFRESH_TOKEN_INVALID (unknown), REFRESH_TOKEN_REUSED (a
  rotated token came back: the whole sign-in was revoked), REFRESH_TOKEN_REVOKED,
  REFRESH_TOKEN_EXPIRED, ACCOUNT_DISABLED; 403 ORIGIN_NOT_ALLOWED; 405 METHOD_NOT_ALLOWED;
  429 RATE_LIMITED (with Retry-After; per client IP and per refresh token).

Tabs of one browser share the cookie and may refresh at once: within REFRESH_REUSE_GRACE_SECONDS
of a rotation the same token yields a sibling instead of counting as reuse (see `tokens.rotate`).
Every revocation here (logout, reuse) also closes the sign-in's open WebSockets everywhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from watchparty.accounts import sessions, tokens
from watchparty.accounts.models import AuthSession
from watchparty.accounts.tokens import RefreshRejected
from watchparty.config import Settings
from watchparty.errors import RateLimited
from watchparty.http.cookies import REFRESH_COOKIE, clear_refresh_cookie, set_refresh_cookie
from watchparty.kit.ratelimit import Limit
from watchparty.state import AppState

NO_STORE = {"cache-control": "no-store"}

REJECTIONS: dict[str, tuple[str, str]] = {
    "unknown": ("REFRESH_TOKEN_INVALID", "This sign-in is not valid. Sign in again."),
    "reused": (
        "REFRESH_TOKEN_REUSED",
        "This refresh token was already used, so this sign-in was ended everywhere. Sign in again.",
    ),
    "revoked": ("REFRESH_TOKEN_REVOKED", "This sign-in was ended. Sign in again."),
    "expired": ("REFRESH_TOKEN_EXPIRED", "This sign-in has expired. Sign in again."),
    "inactive": ("ACCOUNT_DISABLED", "This account is disabled."),
}

# Route every method here so that anything but POST gets our JSON 405, not a plain-text one.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


def request_origin(request: Request) -> str | None:
    """The origin the browser says the request came from: Origin, else Referer's origin."""
    origin = request.headers.get("origin")
    if origin is not None:
        return _origin_of(origin)  # includes the opaque "null" origin, which never matches
    referer = request.headers.get("referer")
    return _origin_of(referer) if referer else None


def allowed_origins(settings: Settings) -> set[str]:
    allowed = {o for o in (_origin_of(u) for u in settings.allowed_origins) if o}
    public = _origin_of(settings.public_url)
    if public:
        allowed.add(public)
    return allowed


def _guard(request: Request) -> Response | None:
    """405 for anything but POST, 403 when the request does not come from one of our origins."""
    if request.method != "POST":
        return error_response(405, "METHOD_NOT_ALLOWED", "Use POST.", headers={"allow": "POST"})
    settings: Settings = request.app.state.wp.settings
    origin = request_origin(request)
    if origin is None or origin not in allowed_origins(settings):
        return error_response(
            403, "ORIGIN_NOT_ALLOWED", "This request must come from the WatchParty site."
        )
    return None


async def _rotate(state: AppState, raw: str) -> tuple[AuthSession, str] | RefreshRejected:
    """Rotate in one unit of work. A reuse commits the family's revocation; other rejections
    roll back (nothing to keep)."""
    try:
        async with state.unit_of_work() as uow:
            try:
                return await sessions.refresh(uow, raw)
            except RefreshRejected as exc:
                if exc.reason != "reused":
                    raise
                reused = exc
        return reused  # the block above committed the revocation
    except RefreshRejected as exc:
        return exc


async def _rate_limit(request: Request, state: AppState, raw: str) -> Response | None:
    """429 for a client (IP) or a cookie that refreshes far more often than a person would."""
    settings = state.settings
    ip = request.client.host if request.client else "unknown"
    try:
        await state.limiter.hit(f"refresh:ip:{ip}", Limit.parse(settings.rate_limit_refresh_ip))
        await state.limiter.hit(
            f"refresh:token:{tokens.hash_token(raw)[:32]}",
            Limit.parse(settings.rate_limit_refresh_token),
        )
    except RateLimited as exc:
        return error_response(
            429,
            "RATE_LIMITED",
            f"Too many refreshes. Try again in {exc.retry_after_seconds} seconds.",
            headers={"retry-after": str(exc.retry_after_seconds)},
        )
    return None


async def refresh(request: Request) -> Response:
    rejected = _guard(request)
    if rejected is not None:
        return rejected
    state: AppState = request.app.state.wp
    raw = request.cookies.get(REFRESH_COOKIE)
    if not raw:
        return error_response(401, "NOT_AUTHENTICATED", "You need to sign in.")
    limited = await _rate_limit(request, state, raw)
    if limited is not None:
        return limited
    result = await _rotate(state, raw) if len(raw) <= 512 else RefreshRejected("unknown")
    if isinstance(result, RefreshRejected):
        code, message = REJECTIONS.get(result.reason, REJECTIONS["unknown"])
        response: Response = error_response(401, code, message)
        clear_refresh_cookie(response, state.settings)
        return response
    family, new_raw = result
    access = state.access_tokens.issue(family.user_id, family.id)
    response = JSONResponse(
        {
            "accessToken": access.token,
            "accessTokenExpiresAt": access.expires_at.isoformat(),
        },
        headers=NO_STORE,
    )
    set_refresh_cookie(response, state.settings, new_raw)
    return response


async def logout(request: Request) -> Response:
    """Revoke the cookie's sign-in (if there is one) and clear the cookie. Always 204."""
    rejected = _guard(request)
    if rejected is not None:
        return rejected
    state: AppState = request.app.state.wp
    raw = request.cookies.get(REFRESH_COOKIE)
    if raw and len(raw) <= 512:
        async with state.unit_of_work() as uow:
            await sessions.sign_out(uow, raw)
    response = Response(status_code=204, headers=NO_STORE)
    clear_refresh_cookie(response, state.settings)
    return response


routes = [
    Route("/auth/refresh", refresh, methods=_ALL_METHODS),
    Route("/auth/logout", logout, methods=_ALL_METHODS),
]
