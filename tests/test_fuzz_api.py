"""The schema-driven fuzzer (tests/fuzz.py) as part of the suite: bounded and seeded.

FUZZ_SEED picks the seed (default below), FUZZ_CASES the number of generated operations over
HTTP, FUZZ_WS_CASES the number of fuzzed WebSocket subscriptions; FUZZ_VERBOSE=1 (with -s)
prints every answer. A failure names the seed, the case number and the exact request; the same
seed replays the same requests.

The app runs on a PostgreSQL database of its own (NUL bytes and encodings fail there, not in
SQLite), with Redis and a real worker, so what the fuzzer creates stays out of other tests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import traceback
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.fuzz import Case, Causes, graphql_problems, http_problems, leaks
from tests.fuzz_cases import CaseMaker
from tests.fuzz_world import build_world
from tests.ops_support import scratch_database
from tests.support import (
    Api,
    free_port,
    live_server,
    make_settings,
    running_app,
)
from watchparty.schema import build_schema

SEED = int(os.environ.get("FUZZ_SEED", "20261206"))
CASES = int(os.environ.get("FUZZ_CASES", "1000"))
WS_CASES = int(os.environ.get("FUZZ_WS_CASES", "12"))
VERBOSE = bool(os.environ.get("FUZZ_VERBOSE"))  # print every HTTP case's answer (with -s)
BURST = 4  # copies of each mutation sent at once in the race phase
REPORTED = 25  # failures printed in full; the rest are counted by class


@pytest.fixture(scope="module")
async def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with scratch_database() as url:
        dead = f"http://127.0.0.1:{free_port()}"  # OAuth providers that never answer
        settings = make_settings(
            "postgres",
            database_url=url,
            tmp=tmp_path_factory.mktemp("fuzz"),
            ws_init_timeout_seconds=2,
            github_client_id="fuzz",
            github_client_secret="fuzz",
            github_authorize_url=f"{dead}/authorize",
            github_token_url=f"{dead}/token",
            github_api_url=dead,
            google_client_id="fuzz",
            google_client_secret="fuzz",
            google_metadata_url=f"{dead}/.well-known/openid-configuration",
        )
        async with running_app(settings) as api:
            yield api


class CauseLog(logging.Handler):
    """Names each masked error by the exception the server logged with its correlation id:
    its type, message (numbers folded) and the innermost frame in watchparty."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.causes: Causes = {}

    def emit(self, record: logging.LogRecord) -> None:
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is None or not record.exc_info or record.exc_info[1] is None:
            return
        exc = record.exc_info[1]
        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if "/watchparty/" in f.filename
        ]
        where = (
            f" at {frames[-1].filename.split('/watchparty/')[-1]}:{frames[-1].lineno}"
            if frames
            else ""
        )
        message = re.sub(r"\d+", "N", str(exc).split("\n")[0])[:90]
        self.causes[str(correlation_id)] = f"{type(exc).__name__}{where} -- {message}"


async def run_http(api: Api, case: Case, causes: Causes) -> None:
    request = case.http
    assert request is not None
    try:
        response = await api.client.request(
            request.method, request.path, headers=request.headers, content=request.body or None
        )
    except Exception as exc:  # the app raised instead of answering: a 500 to a real client
        case.failures.append(f"the app raised {type(exc).__name__}: {str(exc)[:200]}")
        return
    case.failures += http_problems(case, response.status_code, response.text, causes)
    if VERBOSE:
        answer = f"{response.status_code} {response.text[:200]!r}"
        print(f"#{case.number} {case.label} ({request.caller}): {answer} <- {request.body[:300]!r}")


def _ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/graphql"


async def run_ws(base_url: str, case: Case, causes: Causes) -> None:
    """Send the frames; read until the operation answers (or, after a protocol violation, until
    the server closes), or until it goes quiet."""
    assert case.ws is not None
    seen: list[str] = []
    try:
        async with connect(
            _ws_url(base_url),
            subprotocols=[Subprotocol("graphql-transport-ws")],
            proxy=None,
            open_timeout=5,
            max_size=None,
        ) as connection:
            for frame in case.ws.frames:
                await connection.send(frame)
            while True:
                try:
                    raw = await asyncio.wait_for(connection.recv(), 1.5)
                except TimeoutError:
                    if case.ws.expect == "close":
                        case.failures.append("no close after a protocol violation")
                    seen.append("quiet")
                    return
                text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                case.failures += leaks(text)
                try:
                    message = json.loads(text)
                except ValueError:
                    case.failures.append("a frame that is not JSON")
                    return
                kind = message.get("type")
                seen.append(str(kind))
                if kind == "complete" and case.ws.expect == "error" and "next" not in seen:
                    case.failures.append("a bare `complete` for an operation that cannot run")
                if kind in ("next", "error"):
                    case.failures += graphql_problems(message.get("payload"), causes)
                only_init = kind == "connection_ack" and len(case.ws.frames) == 1
                if case.ws.expect != "close" and (
                    kind in ("next", "error", "complete", "pong") or only_init
                ):
                    return
    except websockets.ConnectionClosed as closed:
        seen.append(f"closed {closed.rcvd.code if closed.rcvd else None}")
        if closed.rcvd is None:
            case.failures.append("the socket dropped without a close frame")
        elif closed.rcvd.code in (1006, 1011):
            case.failures.append(f"closed with {closed.rcvd.code} {closed.rcvd.reason!r}")
    except OSError as exc:
        case.failures.append(f"could not connect: {exc!r}")
    finally:
        if VERBOSE:
            print(f"#{case.number} {case.label}: {' '.join(seen)}")


async def still_answers(api: Api, base_url: str) -> list[str]:
    problems = []
    result = await api.gql("{ __typename }")
    if result.status != 200 or result.body != {"data": {"__typename": "Query"}}:
        problems.append(f"HTTP {{ __typename }} answered {result.status} {result.body}")
    async with connect(
        _ws_url(base_url), subprotocols=[Subprotocol("graphql-transport-ws")], proxy=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        )
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if ack["type"] != "connection_ack" or answer.get("payload") != {
            "data": {"__typename": "Query"}
        }:
            problems.append(f"WebSocket {{ __typename }} answered {ack} {answer}")
    return problems


def report(seed: int, failed: list[Case]) -> str:
    """Failures grouped by class (with the fields they hit), then the first cases in full."""
    classes: dict[str, list[Case]] = {}
    for case in failed:
        for failure in dict.fromkeys(f.split(" -- ")[0] for f in case.failures):
            classes.setdefault(failure, []).append(case)
    lines = [
        f"{len(failed)} fuzz cases failed (FUZZ_SEED={seed}); {len(classes)} distinct failures:"
    ]
    for key, cases in sorted(classes.items(), key=lambda item: -len(item[1])):
        where = sorted({c.field_name or c.label for c in cases})
        shown = ", ".join(where[:8]) + (f" +{len(where) - 8}" if len(where) > 8 else "")
        lines.append(
            f"  {len(cases):4d} x {key}\n         e.g. case #{cases[0].number}; in {shown}"
        )
    lines.append("")
    examples = list({id(cases[0]): cases[0] for cases in classes.values()}.values())
    for case in examples[:REPORTED]:
        lines += [case.show(seed), "  -> " + "; ".join(case.failures), ""]
    return "\n".join(lines)


async def test_fuzzing_finds_no_internal_errors(fuzz_api: Api) -> None:
    """Seeded, bounded fuzzing of every root field and of the transports: no 5xx, no masked
    internal error, no Python text, a union member or a request error from every mutation,
    a close code on every closed socket, and the server still answers afterwards."""
    world = await build_world(fuzz_api)
    maker = CaseMaker(build_schema()._schema, SEED, world)
    if VERBOSE:
        print(f"world: {world.ids}")
    http_cases = maker.operations(CASES) + maker.transport() + maker.rest()
    ws_cases = maker.ws_protocol() + maker.ws_operations(WS_CASES)
    log = CauseLog()
    logging.getLogger("watchparty").addHandler(log)
    try:
        for case in http_cases:
            await run_http(fuzz_api, case, log.causes)
        burst_cases = maker.bursts(BURST)
        for case in burst_cases:
            await asyncio.gather(*[run_http(fuzz_api, case, log.causes) for _ in range(BURST)])
        read_cases = maker.readback()
        for case in read_cases:
            await run_http(fuzz_api, case, log.causes)
        async with live_server(fuzz_api.app) as base_url:
            for case in ws_cases:
                await run_ws(base_url, case, log.causes)
            alive = await still_answers(fuzz_api, base_url)
    finally:
        logging.getLogger("watchparty").removeHandler(log)
    every = http_cases + burst_cases + read_cases + ws_cases
    failed = [case for case in every if case.failures]
    assert not failed and not alive, report(SEED, failed) + "\n".join(alive)
