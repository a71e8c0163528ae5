"""Firebase Cloud Messaging through firebase-admin: the process's app, the messages, and what
FCM's answers mean for a token. No database, no GraphQL.

- One named firebase-admin `App` per configuration and process (`watchparty-<digest>`, never the
  default app, so an embedding program's own Firebase app is left alone), created on first use.
  Its credentials are the service account of FIREBASE_CREDENTIALS: its `token_uri` decides
  where the OAuth token comes from. The access token is refreshed in a thread before a send
  (google-auth's refresh is blocking; inside the send it would stall the event loop).
- FIREBASE_FCM_URL (tests, emulators): firebase-admin has no option or environment variable
  for the FCM endpoint; it builds the send URL once per app in its messaging service
  (`_MessagingService._fcm_url`). That one attribute is replaced on our own app's service, and a
  firebase-admin without it refuses to start rather than send to Google by surprise.
- Sending: `messaging.send_each_async` (the asyncio flavour of `send_each`; one HTTP/2-capable
  request per message, in parallel), at most 500 messages per call. firebase-admin itself
  retries a 500/503 answer up to 4 times within about 7 s before reporting it.
- Answers: `Outcome.kind` is SENT, DEAD (UNREGISTERED, SENDER_ID_MISMATCH, INVALID_ARGUMENT about
  the token: the device is removed), TRANSIENT (UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED, a timeout
  or connection error: retried, after Retry-After when FCM sends one) or FAILED (anything else:
  a message FCM rejects, a third-party credential problem; logged, not retried).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import firebase_admin
from firebase_admin import credentials, exceptions, messaging
from google.auth.transport.requests import Request as GoogleAuthRequest

from watchparty.config import ConfigurationError, Settings

log = logging.getLogger(__name__)

MAX_PER_CALL = 500  # firebase-admin's limit for send_each / send_each_for_multicast
HTTP_TIMEOUT_SECONDS = 10  # firebase-admin's default is 120 s
COLLAPSE_KEY_LENGTH = 32  # a Web Push `Topic` has at most 32 URL-safe characters
_FCM_PATH = "/v1/projects/{project}/messages:send"

DEAD_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
TRANSIENT_CODES = frozenset(
    {"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "UNKNOWN", "DEADLINE_EXCEEDED"}
)

_apps_lock = threading.Lock()


class OutcomeKind(StrEnum):
    SENT = "SENT"
    DEAD = "DEAD"
    TRANSIENT = "TRANSIENT"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    code: str | None = None  # FCM's error code
    message_id: str | None = None
    retry_after_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Push:
    """One message to one token."""

    token: str
    title: str
    body: str
    data: dict[str, str]
    link: str | None  # Web Push: the page a click opens (https only)
    collapse_key: str | None
    ttl: timedelta


def collapse_key(group_key: str) -> str:
    """A group key hashed to fit every platform's collapse identifier: Android's collapse_key,
    APNs' apns-collapse-id (64 bytes) and Web Push's Topic header (32 URL-safe characters)."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:COLLAPSE_KEY_LENGTH]


def fcm_send_url(settings: Settings) -> str:
    base = (settings.firebase_fcm_url or "https://fcm.googleapis.com").rstrip("/")
    return base + _FCM_PATH.format(project=settings.firebase_project)


def message(push: Push) -> messaging.Message:
    seconds = max(0, int(push.ttl.total_seconds()))
    apns_headers = {"apns-expiration": str(int(time.time()) + seconds)}
    webpush_headers = {"TTL": str(seconds)}
    if push.collapse_key is not None:
        apns_headers["apns-collapse-id"] = push.collapse_key
        webpush_headers["Topic"] = push.collapse_key
    with warnings.catch_warnings():
        # firebase-admin 7 deprecates `token` for Firebase installation ids (`fid`); the web and
        # mobile SDKs' getToken() still hands out registration tokens, sent as `token`.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _message(push, apns_headers, webpush_headers, seconds)


def _message(
    push: Push, apns_headers: dict[str, str], webpush_headers: dict[str, str], seconds: int
) -> messaging.Message:
    return messaging.Message(
        token=push.token,
        notification=messaging.Notification(title=push.title, body=push.body),
        data=push.data,
        android=messaging.AndroidConfig(collapse_key=push.collapse_key, ttl=seconds),
        apns=messaging.APNSConfig(headers=apns_headers),
        webpush=messaging.WebpushConfig(
            headers=webpush_headers,
            fcm_options=None if push.link is None else messaging.WebpushFCMOptions(link=push.link),
        ),
    )


class Sender:
    """Sends through the configuration's firebase-admin app."""

    def __init__(self, settings: Settings) -> None:
        self.app = _app_for(settings)

    async def ready(self) -> None:
        """Make sure the OAuth access token is fresh (refreshing it in a thread). Raises when
        the token endpoint fails: nothing was sent."""
        credential = self.app.credential.get_credential()
        if not credential.valid:
            await asyncio.to_thread(credential.refresh, GoogleAuthRequest())

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        """One outcome per push, in order (at most MAX_PER_CALL per FCM call)."""
        outcomes: list[Outcome] = []
        for start in range(0, len(pushes), MAX_PER_CALL):
            chunk = pushes[start : start + MAX_PER_CALL]
            try:
                batch = await messaging.send_each_async([message(p) for p in chunk], app=self.app)
            except exceptions.FirebaseError as exc:  # the whole call failed (auth, transport)
                log.warning("FCM call failed", extra={"error": str(exc), "messages": len(chunk)})
                outcomes += [Outcome(OutcomeKind.TRANSIENT, code=_error_code(exc))] * len(chunk)
                continue
            outcomes += [_outcome(response) for response in batch.responses]
        return outcomes


def _app_for(settings: Settings) -> firebase_admin.App:
    account = settings.firebase_service_account
    if account is None:
        raise ConfigurationError("push is off: FIREBASE_CREDENTIALS is not set")
    project = settings.firebase_project
    if not project:
        raise ConfigurationError("FIREBASE_PROJECT_ID must be set")
    url = fcm_send_url(settings)
    digest = hashlib.sha256(json.dumps([account, project, url], sort_keys=True).encode())
    name = f"watchparty-{digest.hexdigest()[:16]}"
    with _apps_lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass
        app = firebase_admin.initialize_app(
            credentials.Certificate(account),
            {"projectId": project, "httpTimeout": HTTP_TIMEOUT_SECONDS},
            name=name,
        )
        if settings.firebase_fcm_url:
            _point_at(app, url)
        return app


def _point_at(app: firebase_admin.App, url: str) -> None:
    """FIREBASE_FCM_URL: replace the send URL firebase-admin built for this app."""
    service = messaging._get_messaging_service(app)
    if not isinstance(getattr(service, "_fcm_url", None), str):
        firebase_admin.delete_app(app)
        raise ConfigurationError("FIREBASE_FCM_URL is not supported by this firebase-admin version")
    service._fcm_url = url


def _outcome(response: messaging.SendResponse) -> Outcome:
    if response.success:
        return Outcome(OutcomeKind.SENT, message_id=response.message_id)
    exc = response.exception
    code = _error_code(exc)
    if code in DEAD_CODES or (code == "INVALID_ARGUMENT" and _about_the_token(exc)):
        return Outcome(OutcomeKind.DEAD, code=code)
    if code in TRANSIENT_CODES:
        return Outcome(OutcomeKind.TRANSIENT, code=code, retry_after_seconds=_retry_after(exc))
    log.error("FCM rejected a message", extra={"code": code, "error": str(exc)})
    return Outcome(OutcomeKind.FAILED, code=code)


def _error_body(exc: BaseException | None) -> dict[str, Any]:
    response = getattr(exc, "http_response", None)
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _error_code(exc: BaseException | None) -> str:
    """FCM's own error code (UNREGISTERED, QUOTA_EXCEEDED...), else the canonical status."""
    error = _error_body(exc)
    for detail in error.get("details") or []:
        if (
            isinstance(detail, dict)
            and detail.get("@type") == "type.googleapis.com/google.firebase.fcm.v1.FcmError"
            and detail.get("errorCode")
        ):
            return str(detail["errorCode"])
    if isinstance(error.get("status"), str):
        return str(error["status"])
    return str(getattr(exc, "code", None) or "UNKNOWN")


def _about_the_token(exc: BaseException | None) -> bool:
    """An INVALID_ARGUMENT that blames the registration token (not the message we built)."""
    error = _error_body(exc)
    if "registration token" in str(error.get("message", "")).lower():
        return True
    for detail in error.get("details") or []:
        for violation in (detail or {}).get("fieldViolations") or []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                return True
    return False


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "http_response", None)
    raw = None if response is None else response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
