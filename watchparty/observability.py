"""Sentry, initialised once per process when SENTRY_DSN is set (API server and worker).

Where events come from:
- Masked GraphQL errors: `gql.extensions` logs each one with `log.error(..., exc_info=...)` and
  its correlation id. The logging integration turns that record into one event carrying the real
  exception and the correlation id (in `extra`), which is what an operator searches for.
- Unhandled exceptions in routes: the Starlette integration.
- Failed jobs: ARQ logs the final failure as an error (our `retrying` wrapper logs earlier tries
  as warnings, which only become breadcrumbs).

The Strawberry integration adds operation names, spans and request data. It would also report
every error in a GraphQL response, including the client's own mistakes (validation, depth limit)
and the *masked* copy of a real failure with no traceback; `before_send` drops those events so a
failure is reported once, with its cause.
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from watchparty.config import Settings

log = logging.getLogger(__name__)

_initialised_dsn: str | None = None


@functools.cache  # reading the package metadata costs ~2 ms (clientConfig asks every time)
def release() -> str:
    try:
        return f"watchparty@{version('watchparty')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "watchparty@unknown"


def sentry_environment(settings: Settings) -> str:
    """The environment events are tagged with (the frontend's `clientConfig.sentry` too)."""
    return settings.sentry_environment or settings.app_env.value


def sentry_release(settings: Settings) -> str:
    return settings.sentry_release or release()


def _drop_graphql_response_errors(event: Any, hint: dict[str, Any]) -> Any:
    for value in (event.get("exception") or {}).get("values") or []:
        mechanism = value.get("mechanism") or {}
        if mechanism.get("type") == "strawberry":
            return None
    return event


def init_sentry(settings: Settings) -> bool:
    """Initialise sentry-sdk if SENTRY_DSN is set; returns whether Sentry is active."""
    global _initialised_dsn
    if not settings.sentry_dsn:
        return False
    if _initialised_dsn == settings.sentry_dsn:
        return True  # create_app may run more than once in a process

    import sentry_sdk
    from sentry_sdk.integrations.arq import ArqIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration
    from sentry_sdk.integrations.strawberry import StrawberryIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=sentry_environment(settings),
        release=sentry_release(settings),
        traces_sample_rate=settings.sentry_traces_sample_rate,
        send_default_pii=False,
        auto_enabling_integrations=False,
        integrations=[
            StarletteIntegration(),
            StrawberryIntegration(async_execution=True),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            ArqIntegration(),
        ],
        before_send=_drop_graphql_response_errors,
    )
    _initialised_dsn = settings.sentry_dsn
    log.info("sentry enabled", extra={"environment": settings.app_env.value})
    return True
