"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from watchparty.accounts import revocations
from watchparty.config import Settings, load_settings
from watchparty.gql import graphiql
from watchparty.http import analytics as analytics_http
from watchparty.http import analytics_exports as analytics_exports_http
from watchparty.http import auth, health, oauth
from watchparty.http import media as media_http
from watchparty.http import stripe_webhook as stripe_webhook_http
from watchparty.http import unsubscribe as unsubscribe_http
from watchparty.http import uploads as uploads_http
from watchparty.kit import clock
from watchparty.logs import AccessLogMiddleware, configure_logging
from watchparty.observability import init_sentry
from watchparty.registry import job_functions, periodic_jobs
from watchparty.state import build_state


class GraphQLEndpoint:
    """Forwards to the view built in the lifespan (it needs the running state)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # WebSocket operations are stamped per message
            await scope["app"].state.graphql(scope, receive, send)
            return
        with clock.arrival():  # serverTime's serverReceivedMs: before the body is parsed
            await scope["app"].state.graphql(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    settings.check()
    init_sentry(settings)  # before the schema is built: the Strawberry integration patches it

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from watchparty.gql.persisted import persisted_queries
        from watchparty.gql.view import GraphQLView
        from watchparty.schema import build_schema

        async with (
            build_state(settings, functions=job_functions(), periodics=periodic_jobs()) as state,
            revocations.watching(state),
        ):
            app.state.wp = state
            view = GraphQLView(state, build_schema(settings), persisted_queries(state))
            app.state.graphql = view
            yield

    routes = [
        Route("/graphql", GraphQLEndpoint(), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", GraphQLEndpoint()),
        *health.routes,
        *auth.routes,
        *oauth.routes,
        *media_http.routes,
        *uploads_http.routes,
        *unsubscribe_http.routes,
        *stripe_webhook_http.routes,
        *analytics_http.routes,
        *analytics_exports_http.routes,
        *graphiql.routes(settings),  # GraphiQL's own JS/CSS (no CDN)
    ]
    middleware = [
        Middleware(AccessLogMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "HEAD"],  # PUT, HEAD: /uploads (resumable)
            # upload-offset, content-range: /uploads; range: players' requests to /media.
            allow_headers=[
                "authorization",
                "content-type",
                "upload-offset",
                "content-range",
                "range",
                # Conditional GETs, and request correlation from the frontend (@sentry/nextjs
                # continues its trace through sentry-trace and baggage; see observability.py).
                "if-none-match",
                "if-range",
                "x-request-id",
                "sentry-trace",
                "baggage",
            ],
            expose_headers=[
                "upload-offset",
                "upload-length",
                "content-range",
                "accept-ranges",
                "www-authenticate",  # a 401 from /graphql says why (gql/view.py)
                "retry-after",  # a 429 from /auth/refresh says when
                "etag",  # GET /graphql and /media (If-None-Match)
                "x-request-id",  # quote it when reporting a problem
                "server-timing",  # app;dur=<ms>: the server's time for the request
            ],
            max_age=600,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.settings = settings
    return app


def create_app_from_env() -> Starlette:
    """uvicorn factory (`uvicorn --factory watchparty.app:create_app_from_env`)."""
    settings = load_settings()
    configure_logging(settings)
    return clock.tune_gc_after_startup(create_app(settings), settings.gc_tuning)
