"""A loopback stand-in for Google's OAuth token endpoint and the FCM v1 send endpoint, so the
push tests run firebase-admin's real code path (credentials, JWT grant, HTTP, error parsing).

It runs in a thread of its own (uvicorn with its own event loop): google-auth refreshes tokens
with blocking `requests` calls, which must never wait on the test's loop. Every request is
recorded (headers, raw body, parsed JSON). The answer for a registration token follows a
script (`script(token, "UNAVAILABLE", "OK")`: the first request fails, the next succeed);
unscripted tokens succeed. Error answers are FCM v1's real shapes (status, body, Retry-After).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback import LoopbackServer

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
PROJECT = "watchparty-push-test"

# (HTTP status, canonical status, message) of each FCM error code the stand-in can answer.
ERRORS: dict[str, tuple[int, str, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_ARGUMENT": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "QUOTA_EXCEEDED": (
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send requests' of service fcm.googleapis.com.",
    ),
}


def fcm_error_body(code: str) -> dict[str, Any]:
    status, canonical, message = ERRORS[code]
    return {
        "error": {
            "code": status,
            "message": message,
            "status": canonical,
            "details": [{"@type": FCM_ERROR, "errorCode": code}],
        }
    }


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    answer: str = "OK"

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def token(self) -> str | None:
        try:
            return str(self.json["message"]["token"])
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class FcmStandIn:
    project: str = PROJECT
    sends: list[Recorded] = field(default_factory=list)
    grants: list[Recorded] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)
    _scripts: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _loopback: LoopbackServer | None = None
    url: str = ""

    # -- control -------------------------------------------------------------------------------

    def script(self, token: str, *answers: str) -> None:
        """The answers to the next requests for `token`, in order: OK, an FCM error code,
        QUOTA_EXCEEDED:<retry-after seconds>, or HANG (wait until `release()`)."""
        with self._lock:
            self._scripts[token] = list(answers)
            if "HANG" in answers:
                self._release.clear()

    def release(self) -> None:
        self._release.set()

    def sent_to(self, token: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.sends if r.token == token]

    async def wait_for(
        self, condition: Callable[[FcmStandIn], bool], timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the FCM stand-in did not see it: {self.summary()}")
            await asyncio.sleep(0.05)

    def summary(self) -> list[tuple[str | None, str]]:
        with self._lock:
            return [(r.token, r.answer) for r in self.sends]

    # -- the service account -------------------------------------------------------------------

    def service_account(self) -> tuple[dict[str, str], rsa.RSAPublicKey]:
        """A service-account key of our own (fresh RSA key) whose token_uri is this stand-in."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        account = {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": f"push@{self.project}.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
        }
        return account, key.public_key()

    # -- the server ----------------------------------------------------------------------------

    def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )
        self._loopback = LoopbackServer(app, "FCM stand-in")
        self.url = self._loopback.url
        self._loopback.start()

    def stop(self) -> None:
        self.release()
        if self._loopback is not None:
            self._loopback.stop()

    async def _token(self, request: Request) -> JSONResponse:
        body = await request.body()
        access = f"ya29.standin-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self.grants.append(Recorded("/token", dict(request.headers), body, time.monotonic()))
            self.access_tokens.append(access)
        return JSONResponse({"access_token": access, "expires_in": 3600, "token_type": "Bearer"})

    async def _send(self, request: Request) -> JSONResponse:
        body = await request.body()
        record = Recorded(request.url.path, dict(request.headers), body, time.monotonic())
        token = record.token or ""
        with self._lock:
            script = self._scripts.get(token, [])
            answer = script.pop(0) if script else "OK"
            record.answer = answer
            self.sends.append(record)
        if answer == "HANG":
            while not self._release.is_set():
                await asyncio.sleep(0.02)
            answer = "OK"
        if answer == "OK":
            name = f"projects/{request.path_params['project']}/messages/{uuid.uuid4().hex[:16]}"
            return JSONResponse({"name": name})
        code, _, retry_after = answer.partition(":")
        headers = {"retry-after": retry_after} if retry_after else None
        return JSONResponse(fcm_error_body(code), status_code=ERRORS[code][0], headers=headers)


def verify_grant(grant: Recorded, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """The JWT-bearer grant google-auth posted: checks its RS256 signature; returns its claims."""
    form = dict(pair.split("=", 1) for pair in grant.body.decode().split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    header, payload, signature = form["assertion"].split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    public_key.verify(
        decode(signature),
        f"{header}.{payload}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(decode(payload))
    return claims
