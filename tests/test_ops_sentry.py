"""Sentry: a real `watchparty serve` with SENTRY_DSN pointed at a local envelope endpoint.

The failure is real and caused from outside: the server's database is dropped while it runs, so
`me` fails inside a resolver, the error is masked for the client and logged with a correlation
id, and that log record must arrive at "Sentry" as an event carrying the correlation id.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops_support import command_env, drop_database, scratch_database, served
from tests.support import PASSWORD, unique_email

REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
    __typename ... on AuthPayload { accessToken } } }"""


FRONTEND_TRACE_ID = "771a43a4192642f0b136d5159a501700"
FRONTEND_HEADERS = {
    "sentry-trace": f"{FRONTEND_TRACE_ID}-b7ad6b7169203331-1",
    "baggage": f"sentry-trace_id={FRONTEND_TRACE_ID},sentry-environment=test",
    "x-request-id": "front-req-1",
}


def parse_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Sentry envelope: a header line, then (item header line, payload) pairs."""
    _header, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return items


class SentryStandIn:
    """Accepts POST /api/<project>/envelope/ on loopback and keeps the events it gets."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                encoding = self.headers.get("content-encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    import brotli  # the SDK only uses br when brotli is importable

                    body = brotli.decompress(body)
                stand_in.paths.append(self.path)
                for item, payload in parse_envelope(body):
                    if item.get("type") == "event":
                        stand_in.events.append(json.loads(payload))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    async def event_with(self, correlation_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in list(self.events):
                if (event.get("extra") or {}).get("correlation_id") == correlation_id:
                    return event
            assert asyncio.get_running_loop().time() < deadline, (
                f"no event for {correlation_id}; got {self.events}"
            )
            await asyncio.sleep(0.1)


@pytest.fixture
def sentry() -> Iterator[SentryStandIn]:
    stand_in = SentryStandIn()
    stand_in.thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


def exception_types(event: dict[str, Any]) -> list[str]:
    return [value["type"] for value in event["exception"]["values"]]


async def test_masked_resolver_error_reaches_sentry_with_its_correlation_id(
    sentry: SentryStandIn, tmp_path: Path
) -> None:
    async with scratch_database() as database_url:
        env = command_env(tmp_path, DATABASE_URL=database_url, SENTRY_DSN=sentry.dsn)
        async with (
            served(env, tmp_path) as server,
            httpx.AsyncClient(base_url=server.url, timeout=20) as client,
        ):
            registered = await client.post(
                "/graphql",
                json={
                    "query": REGISTER,
                    "variables": {
                        "input": {
                            "email": unique_email("sentry"),
                            "password": PASSWORD,
                            "displayName": "Sentry Test",
                        }
                    },
                },
            )
            token = registered.json()["data"]["register"]["accessToken"]

            await drop_database(database_url)

            signed_in = await client.post(
                "/graphql",
                json={"query": "{ me { id } }"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert signed_in.status_code == 503
            assert signed_in.headers["retry-after"] == "5"
            assert signed_in.json()["errors"][0]["message"] == "Try again in a few seconds."

            # A signed-in request would now fail before execution (the sign-in check answers a
            # retryable 503); anonymous reads of public data reach a resolver that needs the
            # database, and that failure is the masked one.
            correlation_ids = []
            for query in (
                "{ publicParties(first: 1) { totalCount } }",
                "{ nope }",
                "{ publicParties(first: 2) { totalCount } }",
            ):
                # The first request comes from a traced frontend (@sentry/nextjs headers).
                headers = FRONTEND_HEADERS if "first: 1" in query else {}
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                if query == "{ nope }":  # the client's own mistake: not reported
                    assert response.json()["errors"][0]["message"].startswith("Cannot query")
                    continue
                error = response.json()["errors"][0]
                assert error["message"] == "Unexpected error."
                assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
                correlation_ids.append(error["extensions"]["correlationId"])

            first = await sentry.event_with(correlation_ids[0])
            await sentry.event_with(correlation_ids[1])  # sent after everything from request 1

    # Correlation: the request id is the correlation id, and the frontend's trace continues.
    assert correlation_ids[0] == "front-req-1"
    assert first["contexts"]["trace"]["trace_id"] == FRONTEND_TRACE_ID
    assert first["level"] == "error"
    assert first["logger"] == "watchparty.graphql"
    assert first["environment"] == "test"
    assert first["release"].startswith("watchparty@")
    assert first["extra"]["path"] == ["publicParties"]
    # The real cause, not the masked copy: the database does not exist any more.
    assert "does not exist" in json.dumps(first["exception"])
    assert exception_types(first)[-1] != "GraphQLError"
    assert set(sentry.paths) == {"/api/1/envelope/"}
    # Neither the masked copies nor the validation error became events of their own.
    mechanisms = [
        (value.get("mechanism") or {}).get("type")
        for event in sentry.events
        for value in (event.get("exception") or {}).get("values", [])
    ]
    assert "strawberry" not in mechanisms
    assert not any("nope" in json.dumps(event) for event in sentry.events)
