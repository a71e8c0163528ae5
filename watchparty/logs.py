"""Structured logs: one JSON object per line (LOG_FORMAT=json) or plain text (console).

Every record made while a request is handled carries its `request_id` (from a trusted-looking
`X-Request-ID` header, else a new one), so the access line, a masked error's correlation id and
anything logged in between can be joined.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchparty.config import Settings

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}
# Chatty at INFO without telling an operator anything.
_QUIET_LOGGERS = ("alembic.runtime.plugins",)
_REQUEST_ID_HEADER = b"x-request-id"
_SERVER_TIMING_HEADER = b"server-timing"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("watchparty.access")


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # UTC timestamps ('Z')

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def _install_request_id_factory() -> None:
    """Stamp `request_id` on every record at creation, before any handler (or Sentry) sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_watchparty", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._watchparty = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _install_request_id_factory()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name == _REQUEST_ID_HEADER:
            candidate = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


# Paths whose next segment is a bearer secret (signed upload and media URLs): never logged.
_SECRET_PATH_PREFIXES = ("/uploads/", "/media/")


def loggable_path(path: str) -> str:
    """The path with the token of a signed URL replaced by `***`."""
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            _, _, rest = path[len(prefix) :].partition("/")
            return prefix + "***" + ("/" + rest if rest else "")
    return path


class AccessLogMiddleware:
    """One log line per HTTP request (and per WebSocket connection), plus `X-Request-ID`.

    Plain ASGI, so it neither buffers bodies nor gets in the way of WebSockets.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _install_request_id_factory()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                # The server's own time up to the response head (for these JSON endpoints the
                # whole request: the body is ready), for browsers' devtools and bench/publish.py.
                elapsed = (time.perf_counter() - started) * 1000
                headers.append((_SERVER_TIMING_HEADER, b"app;dur=%.2f" % elapsed))
                message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close":
                status = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            status = status or 500
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            path = loggable_path(scope["path"])
            access_log.info(
                "%s %s %s",
                scope.get("method", "WS"),
                path,
                status,
                extra={
                    "method": scope.get("method", "WS"),
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": (scope.get("client") or (None,))[0],
                },
            )
            request_id_var.reset(token)
