"""`POST /analytics/events`: the REST twin of `trackEvents`, for `navigator.sendBeacon`.

The body is JSON, sent as `text/plain` (what sendBeacon sends for a string: no CORS preflight)
or `application/json`: an array of events (the `TrackEventInput` fields), or an object
`{"events": [...], "sentAtMs": ..., "anonymousId": ..., "accessToken": ...}`. The same
validation, limits and storage as `trackEvents`; rejected events are not reported (a beacon
reads no answer).

Who: `Authorization: Bearer <access token>`, else `accessToken` in the body (sendBeacon cannot
set headers), else anonymous with `anonymousId`. A token that does not verify (expired: the tab
was closed long after the last refresh) falls back to anonymous when an `anonymousId` is given.

Answers: 204; errors `{"error": {code, message}}`: 400 MALFORMED (not JSON, not the shape) /
VALIDATION (too many events, a bad anonymousId or sentAtMs), 401 NOT_AUTHENTICATED (no usable
token and no anonymousId), 405, 413 TOO_LARGE (body over the bound), 415 UNSUPPORTED_MEDIA_TYPE,
429 RATE_LIMITED with Retry-After.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from watchparty.access_tokens import TokenError
from watchparty.analytics import ingest
from watchparty.errors import RateLimited, ServiceUnavailable, ValidationProblem
from watchparty.gql.view import bearer_token
from watchparty.http.auth import NO_STORE, error_response
from watchparty.kit.time import utcnow
from watchparty.state import AppState

MAX_BODY_BYTES = 1_000_000  # 500 events of up to ~2 KB each
_TYPES = ("text/plain", "application/json")


class Malformed(ValueError):
    pass


async def _body(request: Request) -> bytes | Response:
    declared = request.headers.get("content-length")
    too_large = error_response(413, "TOO_LARGE", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return too_large
            chunks.append(chunk)
    except ClientDisconnect:
        return Response(status_code=400)
    return b"".join(chunks)


def _draft(item: Any) -> ingest.Draft:
    if not isinstance(item, dict):
        raise Malformed("Each event must be a JSON object.")
    return ingest.draft_of(item)


def parse(body: bytes) -> tuple[list[ingest.Draft], Any, Any, Any]:
    """(drafts, sentAtMs, anonymousId, accessToken) of a beacon body, or `Malformed`."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("The body must be JSON.") from None
    sent_at = anonymous_id = token = None
    if isinstance(document, dict):
        events = document.get("events")
        sent_at = document.get("sentAtMs")
        anonymous_id = document.get("anonymousId")
        token = document.get("accessToken")
    else:
        events = document
    if not isinstance(events, list):
        raise Malformed("Send a JSON array of events, or an object with `events`.")
    ingest.check_count(len(events))
    return [_draft(item) for item in events], sent_at, anonymous_id, token


def _viewer(state: AppState, request: Request, body_token: Any) -> Any:
    token = bearer_token(request.headers.get("authorization"))
    if token is None and isinstance(body_token, str) and body_token:
        token = body_token[:4096]
    if token is None:
        return None
    try:
        return state.access_tokens.verify(token).user_id
    except TokenError:
        return None


async def track(request: Request) -> Response:
    if request.method != "POST":
        return error_response(405, "METHOD_NOT_ALLOWED", "Use POST.", headers={"allow": "POST"})
    received = utcnow()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _TYPES:
        return error_response(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send JSON as text/plain or application/json."
        )
    body = await _body(request)
    if isinstance(body, Response):
        return body
    state: AppState = request.app.state.wp
    try:
        drafts, sent_at, anonymous_id, token = parse(body)
        user_id = _viewer(state, request, token)
        anonymous = ingest.check_anonymous_id(anonymous_id, required=False)
        if user_id is None and anonymous is None:
            return error_response(
                401, "NOT_AUTHENTICATED", "Sign in, or send an anonymousId with the events."
            )
        caller = ingest.Caller(
            user_id,
            anonymous,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
        )
        await ingest.track_events(state, caller, drafts, sent_at, received_at=received)
    except Malformed as exc:
        return error_response(400, "MALFORMED", str(exc))
    except ValidationProblem as exc:
        return error_response(400, "VALIDATION", exc.message)
    except (RateLimited, ServiceUnavailable) as exc:
        status = 429 if isinstance(exc, RateLimited) else 503
        return error_response(
            status,
            exc.code.value,
            exc.message,
            headers={"retry-after": str(exc.retry_after_seconds)},
        )
    return Response(status_code=204, headers=NO_STORE)


routes = [
    Route(
        "/analytics/events",
        track,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )
]
