"""A seeded, bounded, schema-driven fuzzer for `/graphql` (HTTP and graphql-transport-ws).

It walks the live schema (every Query and Mutation field, the Subscription fields over the
WebSocket) and builds operations with type-directed arguments from one `random.Random(seed)`:
plausible values, boundary values (Int32 edges, 1e308, NaN/Infinity as raw JSON tokens), empty,
huge, NUL and lone-surrogate strings, wrong types, missing variables, unknown enum values, random
IDs and real IDs of objects the test created, sent anonymously or signed in, as variables or
inline literals. Beside those come malformed requests (bad or deep JSON, wrong content types,
GET with a mutation, batches) and malformed WebSocket messages.

Values and selections: `fuzz_values`; the cases: `fuzz_cases`; fixed malformed requests:
`fuzz_malformed`; this module: the case records and the oracle. A case is generated from the RNG
and the `World`'s slots only, never from server answers, so a seed always yields the same
requests (up to the ids the world got). The oracle: never a 5xx, never a masked internal error,
never Python's own words in a message, every mutation answers a union member or a request
error, a WebSocket never drops without a close code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

INTERNAL_MESSAGE = "Unexpected error."
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
# Words only Python (or its drivers) writes: one in an answer means an exception text leaked.
LEAKS = (
    "Traceback",
    "invalid literal for",
    "object has no attribute",
    "CharacterNotInRepertoire",
    "RecursionError",
    "maximum recursion depth",
    "NoneType",
    "sqlalchemy",
    "asyncpg",
    "UnicodeEncodeError",
    "UnicodeDecodeError",
    "surrogates not allowed",
    "codec can't",
    "OverflowError",
    "int too large",
    "Invalid isoformat string",
    "unhashable type",
    "is not JSON serializable",
    "positional argument",
    "Expecting value: line",
    "KeyError",
)


class Enum(str):
    """An enum value: a bare name in a GraphQL literal, a string in JSON."""


@dataclass
class World:
    """Tokens and ids of objects the test created; cases refer to them by slot."""

    tokens: dict[str, str | None]
    ids: dict[str, list[str]]
    strings: dict[str, list[str]]
    password: str

    def all_ids(self) -> list[str]:
        return [value for values in self.ids.values() for value in values]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    caller: str = "anonymous"

    def show(self, limit: int = 1500) -> str:
        lines = [f"{self.method} {self.path}   (caller: {self.caller})"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        text = repr(self.body[:limit])
        more = f" ... ({len(self.body)} bytes)" if len(self.body) > limit else ""
        return "\n".join([*lines, f"body: {text}{more}"])


@dataclass
class WSCase:
    """Raw WebSocket frames (str: text, bytes: binary) sent after the handshake."""

    frames: list[str | bytes]
    caller: str = "anonymous"
    expect: str = "any"  # "close", "error" or "any" (see fuzz_malformed)

    def show(self, limit: int = 600) -> str:
        shown = [
            repr(frame[:limit]) + (" ..." if len(frame) > limit else "") for frame in self.frames
        ]
        return f"WebSocket /graphql (graphql-transport-ws, caller: {self.caller})\n" + "\n".join(
            f"send: {frame}" for frame in shown
        )


@dataclass
class Case:
    number: int
    label: str
    root: str = ""  # query | mutation | subscription | "" (transport)
    field_name: str = ""
    http: Request | None = None
    ws: WSCase | None = None
    copies: int = 1  # sent this many times at once
    failures: list[str] = field(default_factory=list)

    def show(self, seed: int) -> str:
        request = self.http.show() if self.http else self.ws.show() if self.ws else ""
        times = f" x{self.copies} at once" if self.copies > 1 else ""
        return f"FUZZ_SEED={seed} case #{self.number}{times} [{self.label}]\n{request}"


# --- the oracle ------------------------------------------------------------------------------


def leaks(text: str) -> list[str]:
    return [f"Python text leaked: {word!r}" for word in LEAKS if word in text]


# correlation id -> "ExceptionType: message", filled from the server's log by the test
Causes = dict[str, str]


def graphql_problems(payload: Any, causes: Causes | None = None) -> list[str]:
    """Masked internal errors in a GraphQL response (or a WebSocket error payload), named by
    the exception the server logged under the error's correlation id when it is known."""
    found = []
    errors = payload.get("errors") if isinstance(payload, dict) else payload
    for error in errors or []:
        if not isinstance(error, dict):
            continue
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        if code == INTERNAL_CODE or error.get("message") == INTERNAL_MESSAGE:
            cause = (causes or {}).get(str(extensions.get("correlationId")), "cause not logged")
            found.append(f"internal error: {cause}")
    return found


def http_problems(case: Case, status: int, text: str, causes: Causes | None = None) -> list[str]:
    found = []
    if status >= 500:
        found.append(f"HTTP {status}")
    found += leaks(text)
    if case.http is None or case.http.method == "HEAD" or not case.http.path.startswith("/graphql"):
        return found  # the REST shim answers in its own formats
    try:
        body = json.loads(text)
    except ValueError:
        if case.http is not None and case.http.method in ("POST", "GET"):
            found.append("answer is not JSON")
        return found
    found += graphql_problems(body, causes)
    if case.root == "mutation" and isinstance(body, dict):
        errors = body.get("errors") or []
        at_root = [e for e in errors if isinstance(e, dict) and e.get("path") == [case.field_name]]
        at_root = [e for e in at_root if e.get("message") != INTERNAL_MESSAGE]  # said above
        if at_root:
            found.append(f"mutation answered a field error: {at_root[0].get('message')!r}")
        data = body.get("data")
        if isinstance(data, dict) and data.get(case.field_name) is None and not errors:
            found.append("mutation answered null without errors")
    return found
