"""The refresh-token cookie: HttpOnly, scoped to /auth, Secure outside local development."""

from __future__ import annotations

from starlette.responses import Response

from watchparty.config import Settings

REFRESH_COOKIE = "wp_refresh"
COOKIE_PATH = "/auth"


def set_refresh_cookie(response: Response, settings: Settings, raw_token: str) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        raw_token,
        max_age=settings.refresh_token_ttl_days * 86400,
        path=COOKIE_PATH,
        httponly=True,
        secure=bool(settings.cookie_secure),
        samesite=settings.cookie_samesite,  # type: ignore[arg-type]
    )


def clear_refresh_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        REFRESH_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        secure=bool(settings.cookie_secure),
        samesite=settings.cookie_samesite,  # type: ignore[arg-type]
    )
