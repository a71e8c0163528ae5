"""`POST /webhooks/stripe`: Stripe's webhook deliveries, verified and stored in the inbox.

- 200 `{"received": true, "duplicate": false|true}` once the event is in the inbox (committed);
  processing happens in a job (`billing/webhooks.py`), never in this request, so Stripe gets
  its answer in milliseconds whatever the handlers do.
- 400 `{"error": {"code", "message"}}` and nothing stored: no or bad `Stripe-Signature`
  (SIGNATURE_MISSING, SIGNATURE_INVALID: no secret matches, or the timestamp is more than
  300 s old), or a body that is not a Stripe event (PAYLOAD_INVALID). Stripe retries non-2xx
  answers for three days, so a rotation done in the wrong order loses nothing.
- 413 for a body over 1 MiB (Stripe's events are a few KB), 404 when no webhook secret is
  configured (billing off: there is no endpoint).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from watchparty.billing import inbox
from watchparty.state import AppState

MAX_BYTES = 1024 * 1024
HEADERS = {"cache-control": "no-store"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=HEADERS
    )


async def _body(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BYTES (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def stripe_webhook(request: Request) -> Response:
    state: AppState = request.app.state.wp
    if not state.settings.stripe_webhook_secrets:
        return _error(404, "NOT_FOUND", "Stripe webhooks are not configured here.")
    body = await _body(request)
    if body is None:
        return _error(413, "PAYLOAD_TOO_LARGE", f"The body is over {MAX_BYTES} bytes.")
    try:
        delivery = inbox.verify(state.settings, body, request.headers.get("stripe-signature"))
    except inbox.RejectedDelivery as rejected:
        return _error(400, rejected.code, rejected.message)
    async with state.unit_of_work() as uow:
        inserted = await inbox.store(uow, delivery)
    return JSONResponse({"received": True, "duplicate": not inserted}, headers=HEADERS)


routes = [Route("/webhooks/stripe", stripe_webhook, methods=["POST"])]
