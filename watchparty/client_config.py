"""`clientConfig`: everything the frontend needs to configure itself, in one cacheable query.

Part of the composition root (it reads several domains' settings and constants, and no domain
imports it). Nothing here is a secret or depends on the viewer: the answer is public and
cacheable (`gql.cache_hints`). Every value comes from where it already lives (settings, the
plan catalogue, the emoji set, the poll and chat bounds, the provider registry, `billingConfig`
and `pushConfig`): no number is written twice.

The API's own URLs are PUBLIC_URL when it is set in the environment, else what the request says
(scheme and host, as uvicorn's proxy headers from `--forwarded-allow-ips` report them).
"""

from __future__ import annotations

import strawberry

from watchparty.accounts.oauth_providers import configured_names
from watchparty.billing.plans import available_plans, plan_entitlements
from watchparty.billing.types import BillingConfig
from watchparty.chat.models import BODY_MAX_LENGTH
from watchparty.config import Settings
from watchparty.context import Info
from watchparty.gql.cache_hints import CONFIG_MAX_AGE, public_cache
from watchparty.http.oauth import login_url
from watchparty.kit.emoji import ALLOWED_EMOJI
from watchparty.kit.ratelimit import Limit
from watchparty.notifications.push_types import PushConfig
from watchparty.observability import sentry_environment, sentry_release
from watchparty.parties.models import URL_MAX_LENGTH
from watchparty.parties.provider_types import StreamingProvider, streaming_providers
from watchparty.parties.validation import MAX_MEMBERS, MEDIA_TITLE_MAX_LENGTH
from watchparty.polls.models import MAX_OPTIONS, MIN_OPTIONS, OPTION_MAX_LENGTH, QUESTION_MAX_LENGTH

# The limits a form or a client-side throttle needs: action -> its rate-limit setting.
RATE_LIMITED_ACTIONS = {
    "sendMessage": "rate_limit_chat",
    "sendReaction": "rate_limit_reactions",
    "setTyping": "rate_limit_typing",
    "reportPlayerState": "rate_limit_player_reports",
    "sendSignal": "rate_limit_signals",
    "inviteToParty": "rate_limit_party_invites",
    "login": "rate_limit_login_account",
    "register": "rate_limit_register_ip",
    "requestPasswordReset": "rate_limit_reset_account",
    "resendVerificationEmail": "rate_limit_verify_resend",
}


@strawberry.type(description="Sentry for @sentry/nextjs, tagged like the server's events.")
class SentryConfig:
    dsn: str | None = strawberry.field(description="The frontend's DSN; null: no Sentry.")
    environment: str
    release: str
    traces_sample_rate: float
    trace_propagation_targets: list[str] = strawberry.field(
        description="Send `sentry-trace` and `baggage` to these origins (the API's)."
    )


@strawberry.type(description="A social sign-in: send the browser to loginUrl.")
class SocialLogin:
    provider: str
    login_url: str


@strawberry.type(description="Which features this server has on.")
class ClientFeatures:
    billing: bool
    push: bool
    uploads: bool
    search: bool
    analytics: bool = strawberry.field(description="The server accepts trackEvents.")
    social_logins: list[SocialLogin]


@strawberry.type(description="How many requests an action allows per window (per person).")
class RateLimitInfo:
    action: str = strawberry.field(description="The mutation (or REST action) it applies to.")
    count: int
    per_seconds: int


@strawberry.type(description="The largest upload a plan allows (UPLOAD_MAX_BYTES included).")
class PlanUploadLimit:
    plan: str
    upload_max_bytes: float = strawberry.field(description="Bytes (a Float: beyond 2^31).")


@strawberry.type(description="Bounds a form checks before sending.")
class ClientLimits:
    chat_message_max_length: int
    party_max_members: int
    media_url_max_length: int
    media_title_max_length: int
    poll_question_max_length: int
    poll_option_max_length: int
    poll_min_options: int
    poll_max_options: int
    reaction_emoji: list[str] = strawberry.field(description="The emoji reactions accept.")
    upload_max_bytes: float = strawberry.field(description="The server's cap on one upload.")
    upload_max_bytes_by_plan: list[PlanUploadLimit]
    rate_limits: list[RateLimitInfo]


@strawberry.type(description="The frontend's configuration: public, the same for everybody.")
class ClientConfig:
    api_url: str = strawberry.field(description="The GraphQL endpoint (HTTP).")
    websocket_url: str = strawberry.field(
        description="The GraphQL endpoint (graphql-transport-ws)."
    )
    environment: str
    release: str
    sentry: SentryConfig
    features: ClientFeatures
    limits: ClientLimits
    billing: BillingConfig = strawberry.field(description="The same as `billingConfig`.")
    push: PushConfig = strawberry.field(description="The same as `pushConfig`.")
    providers: list[StreamingProvider] = strawberry.field(
        description="The streaming providers a party can play."
    )


def api_base(settings: Settings, request_base: str) -> str:
    """PUBLIC_URL when set in the environment, else the request's scheme and host (asked over
    the WebSocket, ws:// and wss:// stand for http:// and https://)."""
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    scheme, _, rest = request_base.partition("://")
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{scheme}://{rest}".rstrip("/")


def _limits(settings: Settings) -> ClientLimits:
    by_plan = [
        PlanUploadLimit(
            plan=plan.id.value,
            upload_max_bytes=min(
                plan_entitlements(plan.id, settings).upload_bytes, settings.upload_max_bytes
            ),
        )
        for plan in available_plans(settings)
    ]
    rates = []
    for action, setting in RATE_LIMITED_ACTIONS.items():
        limit = Limit.parse(getattr(settings, setting))
        rates.append(RateLimitInfo(action=action, count=limit.count, per_seconds=limit.seconds))
    return ClientLimits(
        chat_message_max_length=BODY_MAX_LENGTH,
        party_max_members=MAX_MEMBERS,
        media_url_max_length=URL_MAX_LENGTH,
        media_title_max_length=MEDIA_TITLE_MAX_LENGTH,
        poll_question_max_length=QUESTION_MAX_LENGTH,
        poll_option_max_length=OPTION_MAX_LENGTH,
        poll_min_options=MIN_OPTIONS,
        poll_max_options=MAX_OPTIONS,
        reaction_emoji=list(ALLOWED_EMOJI),
        upload_max_bytes=settings.upload_max_bytes,
        upload_max_bytes_by_plan=by_plan,
        rate_limits=rates,
    )


def client_config(info: Info) -> ClientConfig:
    settings = info.context.state.settings
    base = api_base(settings, str(info.context.request.base_url))
    websocket = "ws" + base.removeprefix("http")  # http -> ws, https -> wss
    mutation = info.schema._schema.mutation_type
    environment, release = sentry_environment(settings), sentry_release(settings)
    return ClientConfig(
        api_url=f"{base}/graphql",
        websocket_url=f"{websocket}/graphql",
        environment=environment,
        release=release,
        sentry=SentryConfig(
            dsn=settings.sentry_frontend_dsn or None,
            environment=environment,
            release=release,
            traces_sample_rate=settings.sentry_traces_sample_rate,
            trace_propagation_targets=[base],
        ),
        features=ClientFeatures(
            billing=settings.billing_enabled,
            push=settings.push_enabled,
            uploads=True,  # every server stores uploads (MEDIA_DIR or S3)
            search=False,  # no search API yet (issue 14's search part)
            analytics=mutation is not None and "trackEvents" in mutation.fields,
            social_logins=[
                SocialLogin(provider=name, login_url=login_url(base, name))
                for name in configured_names(settings)
            ],
        ),
        limits=_limits(settings),
        billing=BillingConfig.from_settings(settings),
        push=PushConfig.from_settings(settings),
        providers=streaming_providers(),
    )


@strawberry.type
class ClientConfigQueries:
    @strawberry.field(
        description="The frontend's configuration (URLs, Sentry, features, limits, Stripe and "
        "Firebase public keys, streaming providers). Public, cacheable: GET it.",
        metadata=public_cache(CONFIG_MAX_AGE),
    )
    def client_config(self, info: Info) -> ClientConfig:
        return client_config(info)
