"""A loopback stand-in for the parts of Stripe's API the backend calls, so the billing tests run
the real `stripe` library (request building, form encoding, idempotency keys, retries, error
parsing) through STRIPE_API_BASE. Plus webhook signing exactly as Stripe signs deliveries.

It runs in a thread of its own (uvicorn with its own event loop). Every request is recorded
(method, path, headers, the form parameters flattened as Stripe encodes them:
`line_items[0][price]`). Implemented: POST /v1/customers, POST /v1/checkout/sessions, POST
/v1/billing_portal/sessions, GET /v1/subscriptions/:id (from `subscriptions`, which tests set),
GET /v1/prices/:id. POSTs honour Idempotency-Key like Stripe (the same key replays the first
answer; concurrent requests with one key are serialised). `fail(path, times, status)` answers
the next requests to a path prefix with a Stripe API error; `hang(path)` holds them until
`release()` (or 60 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import LoopbackServer

HANG_LIMIT_SECONDS = 60.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]
    answer: int = 200


def _error(status: int, kind: str, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code:
        body["code"] = code
    return JSONResponse({"error": body}, status_code=status, headers={"request-id": "req_x"})


@dataclass
class StripeStandIn:
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    _failures: dict[str, list[int]] = field(default_factory=dict)
    _hangs: set[str] = field(default_factory=set)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idempotent: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _key_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _loopback: LoopbackServer | None = None

    # -- control -------------------------------------------------------------------------------

    def fail(self, path: str, times: int = 1, status: int = 500) -> None:
        """The next `times` requests whose path starts with `path` get a Stripe error."""
        with self._lock:
            self._failures[path] = [status] * times

    def hang(self, path: str) -> None:
        with self._lock:
            self._hangs.add(path)
            self._release.clear()

    def release(self) -> None:
        with self._lock:
            self._hangs.clear()
        self._release.set()

    def reset_faults(self) -> None:
        with self._lock:
            self._failures.clear()
        self.release()

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    # -- the server ----------------------------------------------------------------------------

    def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/v1/customers", self._create_customer, methods=["POST"]),
                Route("/v1/checkout/sessions", self._create_checkout, methods=["POST"]),
                Route("/v1/billing_portal/sessions", self._create_portal, methods=["POST"]),
                Route("/v1/subscriptions/{id}", self._get_subscription, methods=["GET"]),
                Route("/v1/prices/{id}", self._get_price, methods=["GET"]),
            ]
        )
        self._loopback = LoopbackServer(app, "Stripe stand-in")
        self.url = self._loopback.url
        self._loopback.start()

    def stop(self) -> None:
        self.release()
        if self._loopback is not None:
            self._loopback.stop()

    # -- plumbing ------------------------------------------------------------------------------

    async def _record(self, request: Request) -> tuple[Recorded, Response | None]:
        form = await request.form() if request.method == "POST" else request.query_params
        params = {key: str(value) for key, value in form.items()}
        record = Recorded(request.method, request.url.path, dict(request.headers), params)
        with self._lock:
            self.requests.append(record)
            failing = next((p for p in self._failures if record.path.startswith(p)), None)
            status = self._failures[failing].pop(0) if failing else None
            if failing and not self._failures[failing]:
                del self._failures[failing]
            hanging = any(record.path.startswith(p) for p in self._hangs)
        if hanging:
            deadline = time.monotonic() + HANG_LIMIT_SECONDS
            while not self._release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if status is not None:
            record.answer = status
            return record, _error(status, "api_error", "Something went wrong on Stripe's end.")
        return record, None

    async def _idempotent_post(self, request: Request, create: Any) -> Response:
        record, failed = await self._record(request)
        if failed is not None:
            return failed
        key = record.headers.get("idempotency-key", "")
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._idempotent:
                status, body = self._idempotent[key]
                replayed = {"idempotent-replayed": "true"}
                return JSONResponse(body, status_code=status, headers=replayed)
            status, body = create(record.params)
            self._idempotent[key] = (status, body)
        return JSONResponse(body, status_code=status)

    # -- endpoints -----------------------------------------------------------------------------

    async def _create_customer(self, request: Request) -> Response:
        def create(params: dict[str, str]) -> tuple[int, Any]:
            customer = {
                "id": f"cus_{uuid.uuid4().hex[:14]}",
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": {"userId": params.get("metadata[userId]")},
            }
            self.customers[customer["id"]] = customer
            return 200, customer

        return await self._idempotent_post(request, create)

    async def _create_checkout(self, request: Request) -> Response:
        def create(params: dict[str, str]) -> tuple[int, Any]:
            if params.get("customer") not in self.customers:
                return 400, {"error": {"type": "invalid_request_error", "message": "No customer"}}
            session_id = f"cs_test_{uuid.uuid4().hex[:20]}"
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                "params": params,
            }
            self.checkout_sessions[session_id] = session
            return 200, session

        return await self._idempotent_post(request, create)

    async def _create_portal(self, request: Request) -> Response:
        def create(params: dict[str, str]) -> tuple[int, Any]:
            if params.get("customer") not in self.customers:
                return 400, {"error": {"type": "invalid_request_error", "message": "No customer"}}
            session_id = f"bps_{uuid.uuid4().hex[:20]}"
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": params.get("customer"),
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
            self.portal_sessions[session_id] = session
            return 200, session

        return await self._idempotent_post(request, create)

    async def _get_subscription(self, request: Request) -> Response:
        _, failed = await self._record(request)
        if failed is not None:
            return failed
        found = self.subscriptions.get(request.path_params["id"])
        if found is None:
            return _error(
                404, "invalid_request_error", "No such subscription", code="resource_missing"
            )
        return JSONResponse(found)

    async def _get_price(self, request: Request) -> Response:
        _, failed = await self._record(request)
        if failed is not None:
            return failed
        found = self.prices.get(request.path_params["id"])
        if found is None:
            return _error(404, "invalid_request_error", "No such price", code="resource_missing")
        return JSONResponse(found)


# -- webhooks ----------------------------------------------------------------------------------


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature` as Stripe computes it: t=<unix time>,v1=<HMAC-SHA256 of "t.payload">
    with the endpoint's signing secret (computed here, not by the library under test)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event(kind: str, obj: dict[str, Any], *, created: int | None = None, event_id: str = "") -> str:
    """A webhook body: Stripe's event envelope around `obj`."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        }
    )


def subscription(
    sub_id: str,
    customer: str,
    price: str,
    status: str = "active",
    *,
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    trial_end: int | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """A subscription object shaped like the 2026 API (period on the item)."""
    period_end = int(time.time()) + 30 * 86400 if period_end is None else period_end
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "trial_end": trial_end,
        "metadata": {"userId": user_id} if user_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id[4:]}",
                    "object": "subscription_item",
                    "current_period_end": period_end,
                    "price": {"id": price, "object": "price"},
                    "quantity": 1,
                }
            ],
        },
    }


def invoice(
    invoice_id: str, customer: str, sub_id: str | None, *, paid: int = 0, due: int = 0
) -> dict[str, Any]:
    parent = (
        None
        if sub_id is None
        else {"type": "subscription_details", "subscription_details": {"subscription": sub_id}}
    )
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "currency": "usd",
        "amount_paid": paid,
        "amount_due": due,
        "parent": parent,
    }
