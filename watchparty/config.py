"""One typed settings object, read from the environment (and an optional `.env`).

With nothing set the *embedded* stack runs: SQLite under ./var, an in-memory broadcast and
in-process jobs. Setting `DATABASE_URL` (PostgreSQL) and `REDIS_URL` switches to the production
stack. `APP_ENV=production` additionally refuses default secrets and SQLite.
"""

from __future__ import annotations

import functools
import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_KEYS = "dev:insecure-development-key-change-me-0123456789"


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class EmailBackend(StrEnum):
    OUTBOX = "outbox"
    SMTP = "smtp"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class ConfigurationError(RuntimeError):
    """The configuration cannot run (raised at start-up, never at request time)."""


def derived_media_signing_key(jwt_keys: str) -> str:
    """The development default of MEDIA_SIGNING_KEY: never the JWT secret itself."""
    return hashlib.sha256(b"watchparty-media:" + jwt_keys.encode()).hexdigest()


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: AppEnv = AppEnv.DEVELOPMENT
    data_dir: Path = Path("var")
    public_url: str = "http://localhost:8000"
    frontend_url: str = "http://localhost:3000"
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:8000"]
    )

    # Storage and messaging. Empty means "embedded".
    database_url: str = ""
    redis_url: str = ""
    broadcast_url: str = ""
    redis_key_prefix: str = "wp:"
    # Every Redis call gives up after REDIS_SOCKET_TIMEOUT_SECONDS (a frozen Redis must not hang a
    # request or the worker); connecting after REDIS_CONNECT_TIMEOUT_SECONDS.
    redis_socket_timeout_seconds: float = Field(default=2.0, gt=0.0, le=300.0)
    redis_connect_timeout_seconds: float = Field(default=2.0, gt=0.0, le=60.0)
    # After a failed Redis call the API skips Redis for REDIS_COOLDOWN_SECONDS (degraded mode, see
    # kit/redis_guard.py) instead of making every request wait for the timeout; then it probes.
    redis_cooldown_seconds: float = Field(default=5.0, gt=0.0, le=300.0)
    auto_migrate: bool | None = None
    db_pool_size: int = 10
    db_echo: bool = False

    # Tokens. JWT_KEYS is "kid:secret,kid:secret"; JWT_ACTIVE_KID signs, every listed kid verifies.
    jwt_keys: str = DEFAULT_JWT_KEYS
    jwt_active_kid: str = "dev"
    jwt_issuer: str = "watchparty"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=3600)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # A refresh token used again within this many seconds of its rotation gets a sibling instead
    # of revoking its family: tabs sharing the cookie refresh at the same moment (tokens.py).
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0.0, le=300.0)
    email_token_ttl_hours: int = Field(default=24, ge=1, le=168)
    password_reset_ttl_minutes: int = Field(default=60, ge=5, le=1440)
    cookie_secure: bool | None = None
    cookie_samesite: str = "lax"

    # Social sign-in. Endpoints are configurable so tests can run a provider on loopback.
    google_client_id: str = ""
    google_client_secret: str = ""
    google_metadata_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    github_client_id: str = ""
    github_client_secret: str = ""
    github_authorize_url: str = "https://github.com/login/oauth/authorize"
    github_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105
    github_api_url: str = "https://api.github.com"

    # Email.
    email_backend: EmailBackend = EmailBackend.OUTBOX
    email_outbox_dir: Path | None = None
    email_from: str = "WatchParty <no-reply@watchparty.local>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True

    # Rate limits, "count/seconds".
    rate_limit_login_ip: str = "20/60"
    rate_limit_login_account: str = "10/300"
    rate_limit_register_ip: str = "10/3600"
    rate_limit_reset_ip: str = "10/3600"
    rate_limit_reset_account: str = "3/3600"
    rate_limit_verify_resend: str = "3/3600"  # resendVerificationEmail, per account
    rate_limit_player_reports: str = "10/1"  # reportPlayerState, per member of a party
    rate_limit_chat: str = "10/10"  # sendMessage, per member of a party (beyond slow mode)
    rate_limit_reactions: str = "20/10"  # sendReaction, per member of a party
    rate_limit_typing: str = "1/2"  # setTyping(true), per member of a party (extra ones ignored)
    rate_limit_signals: str = "50/1"  # sendSignal, per member of a party
    rate_limit_party_invites: str = "50/3600"  # inviteToParty: invitees per inviter
    rate_limit_mentions: str = "30/60"  # MENTION notifications per message author
    rate_limit_refresh_ip: str = "60/60"  # POST /auth/refresh, per client IP
    rate_limit_refresh_token: str = "10/60"  # noqa: S105 - POST /auth/refresh, per cookie
    rate_limit_analytics_exports: str = "10/3600"  # requestAnalyticsExport, per user

    # Voice chat and screen share (voice/): STUN/TURN servers handed out by `iceServers`.
    # TURN credentials follow the TURN REST scheme: username "<expiry>:<user id>", password
    # base64(HMAC-SHA1(TURN_SECRET, username)), valid TURN_CREDENTIAL_TTL_SECONDS.
    stun_urls: str = "stun:stun.l.google.com:19302"  # comma-separated; empty: none
    turn_urls: str = ""  # comma-separated turn:/turns: URLs; empty: no TURN
    turn_secret: str = ""  # the TURN server's static-auth-secret; empty: no TURN
    turn_credential_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)

    # Video library (videos/): files under MEDIA_DIR (default <data_dir>/media) or in an
    # S3-compatible bucket; uploads go to a signed URL valid UPLOAD_URL_TTL_SECONDS.
    media_dir: Path | None = None
    storage_backend: StorageBackend = StorageBackend.LOCAL
    s3_endpoint_url: str = ""  # empty: AWS; e.g. http://minio:9000
    s3_bucket: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = "us-east-1"
    upload_max_bytes: int = Field(default=5 * 1024**3, ge=1)
    upload_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    media_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    # Analytics exports (analytics/exports.py): files kept this long after their job finished
    # (then purged), download URLs valid ANALYTICS_EXPORT_URL_TTL_SECONDS (and never past that).
    analytics_export_retention_hours: float = Field(default=24.0, gt=0.0, le=30 * 24.0)
    analytics_export_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    # Signs upload and media URLs (32+ characters). Empty: derived from JWT_KEYS.
    media_signing_key: str = ""
    # oEmbed endpoints the external-video job asks for title, duration and thumbnail (empty: skip;
    # Twitch retired its public oEmbed, so it is off unless a compatible endpoint is set).
    oembed_youtube_url: str = "https://www.youtube.com/oembed"
    oembed_vimeo_url: str = "https://vimeo.com/api/oembed.json"
    oembed_twitch_url: str = ""

    # Push notifications through Firebase Cloud Messaging (notifications/push.py). Off while
    # FIREBASE_CREDENTIALS is empty: a service-account JSON, or the path of its file (its
    # `token_uri` is where the OAuth token comes from). FIREBASE_PROJECT_ID defaults to the
    # service account's. FIREBASE_FCM_URL is for tests and emulators only: the FCM API's base URL.
    # Billing (watchparty/billing/). Without STRIPE_SECRET_KEY billing is off: no plan gating
    # (everyone has the instance's own limits), `plans` lists the free plan only.
    # Search (README "Search"). Empty TYPESENSE_URL: search runs on the database.
    typesense_url: str = ""  # e.g. http://127.0.0.1:8108
    typesense_public_url: str = ""  # what browsers reach (`searchKey.url`); empty: TYPESENSE_URL
    typesense_api_key: str = ""  # the admin key (never sent to clients: they get scoped keys)
    typesense_collection_prefix: str = ""  # keeps deployments sharing one Typesense apart
    typesense_timeout_seconds: float = Field(default=2.0, gt=0.0, le=60.0)
    # After a failed call, search skips Typesense (database fallback) for this long, then probes.
    typesense_cooldown_seconds: float = Field(default=5.0, gt=0.0, le=300.0)
    search_key_ttl_seconds: int = Field(default=3600, ge=60, le=86400)  # `searchKey` expiry
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""  # served to the frontend (`billingConfig`)
    stripe_webhook_secret: str = ""  # comma-separated: several are accepted during a rotation
    stripe_api_base: str = ""  # tests and stand-ins only (https in production); empty: Stripe's
    stripe_timeout_seconds: float = Field(default=10.0, gt=0.0, le=60.0)
    # The Stripe Price id of each paid plan and interval (Dashboard > Products).
    stripe_price_plus_monthly: str = ""
    stripe_price_plus_yearly: str = ""
    stripe_price_premium_monthly: str = ""
    stripe_price_premium_yearly: str = ""
    # PAST_DUE keeps the paid plan this long after the first failed payment, then FREE applies.
    billing_past_due_grace_days: float = Field(default=7.0, ge=0.0, le=60.0)

    # Analytics aggregation reads events ingested up to this many seconds ago: an ingest
    # transaction that commits late, with an earlier `ingested_at`, is not skipped if it commits
    # within this lag (README "Analytics: aggregation").
    analytics_aggregation_lag_seconds: float = Field(default=10.0, ge=0.0, le=600.0)

    firebase_credentials: str = ""
    firebase_project_id: str = ""
    firebase_fcm_url: str = ""
    # The Firebase web config the frontend needs to obtain tokens (public values, `pushConfig`).
    firebase_web_api_key: str = ""
    firebase_web_auth_domain: str = ""  # default: <project id>.firebaseapp.com
    firebase_web_app_id: str = ""
    firebase_web_messaging_sender_id: str = ""
    firebase_web_vapid_key: str = ""
    # Registering past PUSH_DEVICES_PER_USER drops the user's least recently seen device. A
    # transient FCM failure is retried after a backoff, or FCM's Retry-After, at most this long.
    push_devices_per_user: int = Field(default=10, ge=1, le=100)
    push_retry_max_seconds: float = Field(default=300.0, ge=1.0, le=3600.0)

    # Video processing (videos/tasks.py): ffmpeg binaries, the HLS ladder's heights (up to the
    # source's, never upscaled), a heartbeat (every 2 s) older than PROCESSING_STALE_SECONDS means
    # the job's worker died (the sweeper, every 5 s, re-queues it), and the transcode timeout per
    # second of video.
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"
    processing_heights: str = "1080,720,480,360"  # comma-separated
    processing_stale_seconds: float = Field(default=15.0, ge=1.0, le=3600.0)
    processing_timeout_factor: float = Field(default=4.0, gt=0.0, le=100.0)

    # Scheduled parties (parties/reminders.py): PARTY_STARTING_SOON this long before
    # `scheduledStart` (0: none), PARTY_STARTED and the automatic start at it.
    party_reminder_lead_seconds: int = Field(default=900, ge=0, le=86_400)

    # GraphQL protection.
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    graphql_max_cost: int = 5000
    graphql_ide: bool | None = None
    max_body_bytes: int = 1_000_000
    ws_init_timeout_seconds: float = 10.0
    # Automatic persisted queries (gql/persisted.py): documents kept by hash in Redis for
    # APQ_TTL_SECONDS after their last use (embedded: the newest APQ_MAX_ENTRIES in memory);
    # larger ones are run but not kept.
    apq_ttl_seconds: int = Field(default=7 * 86_400, ge=60, le=90 * 86_400)
    apq_max_entries: int = Field(default=1000, ge=10, le=1_000_000)
    apq_max_document_bytes: int = Field(default=65_536, ge=1024, le=1_000_000)
    # Trusted documents: a JSON object {sha256: document} (the frontend codegen's persisted
    # documents). Set, only those operations run (by hash or by their exact text). Empty: off.
    trusted_documents_file: str = ""
    ws_max_operations: int = 20
    # A socket whose peer stops reading (http/ws_transport.py): the server holds at most
    # WS_MAX_BUFFERED_BYTES unsent for it (plus the frame being written), and a send that waits
    # WS_SEND_TIMEOUT_SECONDS for room aborts the connection (the client resumes with `after:`).
    ws_send_timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0)
    ws_max_buffered_bytes: int = Field(default=262_144, ge=4096, le=64 * 1024 * 1024)
    # A revoked sign-in's sockets close at once through the broadcast (accounts/revocations.py);
    # every WS_SESSION_RECHECK_SECONDS each process also checks its sockets' sessions in the
    # database, in case a revocation message was lost (0 turns the recheck off).
    ws_session_recheck_seconds: float = Field(default=30.0, ge=0.0, le=3600.0)
    # An HTTP request whose sign-in this process found valid less than this long ago skips the
    # check (`accounts.checked_sessions`); announced revocations take effect at once anyway.
    session_check_cache_seconds: float = Field(default=1.0, ge=0.0, le=10.0)
    # permessage-deflate costs ~50 KB of zlib state per connection and a compression per frame
    # and subscriber; party events are a few hundred bytes. Off unless asked for.
    ws_per_message_deflate: bool = False
    # `watchparty serve` freezes the start-up heap and collects young objects less often
    # (kit/clock.py): fewer and shorter GC pauses. False for measurements and debugging.
    gc_tuning: bool = True

    # Realtime events (watchparty/realtime): a bounded queue per subscriber; per channel the log
    # keeps the newest RETENTION_COUNT events that are younger than RETENTION_SECONDS; every
    # POLL_SECONDS each process checks its channels for a lost notification (0 turns it off).
    realtime_queue_size: int = Field(default=256, ge=8, le=100_000)
    realtime_retention_count: int = Field(default=1000, ge=10)
    realtime_retention_seconds: int = Field(default=600, ge=10)
    realtime_poll_seconds: float = Field(default=5.0, ge=0)
    # Notifications (watchparty/notifications): a read entry is deleted this many days after it
    # was read (an unread one when it expires: 30 days by default, 90 for security notices).
    notification_read_retention_days: int = Field(default=30, ge=1, le=3650)
    # Presence (parties/presence/): a stream's connection expires PRESENCE_TTL_SECONDS after
    # its last heartbeat (sent every PRESENCE_HEARTBEAT_SECONDS), so a dead process's members go
    # offline within about TTL + the sweep period.
    presence_ttl_seconds: float = Field(default=30.0, ge=1.0, le=600.0)
    presence_heartbeat_seconds: float = Field(default=10.0, gt=0.0, le=300.0)
    # Presence events are coalesced (parties/presence/batcher.py): at most one PresenceChanged
    # per party and API process every PRESENCE_BATCH_SECONDS; above PRESENCE_LIST_LIMIT users
    # online it carries the online count only, not who came and went.
    presence_batch_seconds: float = Field(default=0.25, ge=0.0, le=10.0)
    presence_list_limit: int = Field(default=50, ge=0, le=1000)
    # A host offline this long (after presence noticed) hands hosting over (parties/failover.py).
    host_failover_grace_seconds: float = Field(default=60.0, ge=0.0, le=3600.0)

    # Analytics ingestion (watchparty/analytics, README "Analytics: ingestion"): trackEvents
    # and POST /analytics/events accept events this old at most (client time, corrected), keep
    # the raw events this many days (partitions dropped by `analytics_partitions`, which keeps
    # ANALYTICS_PARTITIONS_AHEAD days created ahead), and answer RateLimited while the Redis
    # stream holds more than ANALYTICS_STREAM_MAX_ENTRIES undrained batches (backpressure).
    analytics_enabled: bool = True
    analytics_retention_days: int = Field(default=90, ge=1, le=3650)
    analytics_max_event_age_hours: int = Field(default=72, ge=1, le=24 * 90)
    analytics_partitions_ahead: int = Field(default=7, ge=1, le=60)
    analytics_stream_max_entries: int = Field(default=20_000, ge=10, le=10_000_000)
    # How long Redis remembers an accepted event id (a retry within it counts as a duplicate;
    # later ones are still stored once, by the table's key). 0: the max event age + 2 hours.
    # Each id costs Redis ~100 bytes for that long: lower it at high volume.
    analytics_dedupe_hours: int = Field(default=0, ge=0, le=24 * 90)
    # A stream entry read by a drain that did not acknowledge it within this is taken over by
    # another drain (its worker died mid-batch).
    analytics_claim_idle_seconds: float = Field(default=30.0, ge=0.1, le=3600.0)
    rate_limit_analytics: str = "120/60"  # trackEvents / beacon calls, per signed-in user
    rate_limit_analytics_anonymous: str = "30/60"  # per client IP, anonymous callers

    # Operations.
    log_level: str = "INFO"
    log_format: str = "json"
    sentry_dsn: str = ""
    sentry_environment: str = ""  # default: APP_ENV
    sentry_release: str = ""  # default: watchparty@<package version>
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    # The frontend's own Sentry project (public, served by `clientConfig.sentry`); it shares
    # SENTRY_ENVIRONMENT and SENTRY_RELEASE so both sides' events line up. Empty: none.
    sentry_frontend_dsn: str = ""
    worker_concurrency: int = 10
    # A running job's in-progress lock in Redis (renewed every quarter of it while the job
    # runs): the jobs of a killed worker run again on another worker once it lapses.
    worker_job_lease_seconds: float = Field(default=60.0, ge=2.0, le=3600.0)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'watchparty.db'}"
        elif self.database_url.startswith(("postgres://", "postgresql://")):
            self.database_url = "postgresql+asyncpg://" + self.database_url.split("://", 1)[1]
        if not self.broadcast_url:
            self.broadcast_url = self.redis_url or "memory://"
        if self.media_dir is None:
            self.media_dir = self.data_dir / "media"
        if not self.media_signing_key:
            self.media_signing_key = derived_media_signing_key(self.jwt_keys)
        if self.email_outbox_dir is None:
            self.email_outbox_dir = self.data_dir / "outbox"
        if self.auto_migrate is None:
            self.auto_migrate = self.is_sqlite
        if self.cookie_secure is None:
            self.cookie_secure = self.public_url.startswith("https://")
        if self.graphql_ide is None:
            self.graphql_ide = not self.is_production
        return self

    @functools.cached_property
    def trusted_documents(self) -> dict[str, str] | None:
        """TRUSTED_DOCUMENTS_FILE's {sha256: document}, None when off; ConfigurationError when
        it cannot be read or a hash is not its document's."""
        path = self.trusted_documents_file.strip()
        if not path:
            return None
        try:
            loaded = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"TRUSTED_DOCUMENTS_FILE: cannot read {path!r} ({type(exc).__name__})"
            ) from None
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise ConfigurationError("TRUSTED_DOCUMENTS_FILE must be a JSON object of strings")
        documents = {k.lower(): v for k, v in loaded.items()}
        wrong = [k for k, v in documents.items() if hashlib.sha256(v.encode()).hexdigest() != k]
        if wrong:
            raise ConfigurationError(
                f"TRUSTED_DOCUMENTS_FILE: {len(wrong)} hash(es) do not match their document"
            )
        return documents

    @property
    def is_production(self) -> bool:
        return self.app_env is AppEnv.PRODUCTION

    @property
    def typesense_enabled(self) -> bool:
        return bool(self.typesense_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """Jobs run in-process and limits live in memory when no Redis is configured."""
        return not self.redis_url

    @property
    def billing_enabled(self) -> bool:
        """Stripe configured: plans gate what people may do, and can be bought."""
        return bool(self.stripe_secret_key.strip())

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        return [part.strip() for part in self.stripe_webhook_secret.split(",") if part.strip()]

    @property
    def push_enabled(self) -> bool:
        """Push through FCM is on when service-account credentials are configured."""
        return bool(self.firebase_credentials.strip())

    @functools.cached_property
    def firebase_service_account(self) -> dict[str, Any] | None:
        """FIREBASE_CREDENTIALS as a dict: the JSON itself, or read from the file it names.
        None when push is off; ConfigurationError when it cannot be read."""
        raw = self.firebase_credentials.strip()
        if not raw:
            return None
        if not raw.startswith("{"):
            try:
                raw = Path(raw).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(
                    f"FIREBASE_CREDENTIALS: cannot read {raw!r} ({type(exc).__name__})"
                ) from None
        try:
            account = json.loads(raw)
        except ValueError:
            raise ConfigurationError("FIREBASE_CREDENTIALS is not valid JSON") from None
        missing = [
            key
            for key in ("private_key", "client_email", "token_uri")
            if not isinstance(account, dict) or not account.get(key)
        ]
        if missing or account.get("type") != "service_account":
            raise ConfigurationError(
                "FIREBASE_CREDENTIALS must be a service-account key (type service_account with "
                "private_key, client_email and token_uri)"
            )
        result: dict[str, Any] = account
        return result

    @property
    def firebase_project(self) -> str:
        """FIREBASE_PROJECT_ID, else the service account's project ("" when push is off)."""
        if self.firebase_project_id:
            return self.firebase_project_id
        account = self.firebase_service_account
        return str((account or {}).get("project_id") or "")

    @functools.cached_property
    def signing_keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for pair in self.jwt_keys.split(","):
            kid, _, secret = pair.strip().partition(":")
            if kid and secret:
                keys[kid] = secret
        return keys

    def check(self) -> None:
        """Refuse configurations that must never serve traffic."""
        keys = self.signing_keys
        if self.jwt_active_kid not in keys:
            raise ConfigurationError(f"JWT_ACTIVE_KID {self.jwt_active_kid!r} is not in JWT_KEYS")
        if self.push_enabled:
            self.firebase_service_account  # noqa: B018 - raises ConfigurationError when unusable
            if not self.firebase_project:
                raise ConfigurationError(
                    "FIREBASE_PROJECT_ID must be set (the service account names no project_id)"
                )
        self.trusted_documents  # noqa: B018 - raises ConfigurationError when unusable
        if self.typesense_url and not self.typesense_api_key:
            raise ConfigurationError("TYPESENSE_API_KEY must be set with TYPESENSE_URL")
        if not self.is_production:
            return
        problems = []
        if self.jwt_keys == DEFAULT_JWT_KEYS or any(len(s) < 32 for s in keys.values()):
            problems.append("JWT_KEYS must be set to secrets of at least 32 characters")
        if self.is_sqlite:
            problems.append("DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("REDIS_URL must be set")
        if self.broadcast_url.startswith("memory"):
            problems.append("BROADCAST_URL must not be memory:// with several processes")
        # Unset, the media key is derived from JWT_KEYS: as secret as they are (and the default
        # JWT_KEYS are refused above). Set, it must be strong.
        derived = self.media_signing_key == derived_media_signing_key(self.jwt_keys)
        if not derived and len(self.media_signing_key) < 32:
            problems.append("MEDIA_SIGNING_KEY must be at least 32 characters")
        if self.storage_backend is StorageBackend.S3 and not self.s3_bucket:
            problems.append("S3_BUCKET must be set with STORAGE_BACKEND=s3")
        if not self.cookie_secure:
            problems.append("PUBLIC_URL must be https:// (refresh cookies are Secure)")
        if self.firebase_fcm_url and not self.firebase_fcm_url.startswith("https://"):
            problems.append("FIREBASE_FCM_URL must be https:// (or unset: Google's FCM)")
        if problems:
            raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.check()
    return settings
