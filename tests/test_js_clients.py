"""Real clients that nobody here wrote, against a real `watchparty serve` subprocess.

- the npm `graphql-ws` client signs in through `connection_init`, runs `me`, and sees a bad
  token closed with 4403;
- the npm `graphql-http` audit suite passes every MUST and every SHOULD;
- `@graphql-codegen/cli` generates TypeScript from schema.graphql and `tsc --noEmit` accepts it.

The npm packages are pinned in tests/js/package-lock.json; `npm ci --prefix tests/js` installs
them (the Makefile does). Missing packages fail these tests: they are never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support import REDIS_URL, RELAXED_LIMITS, free_port

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "tests" / "js"
SCHEMA = ROOT / "schema.graphql"
WATCHPARTY = Path(sys.executable).parent / "watchparty"
INSTALL_HINT = "run `npm ci --prefix tests/js` (the Makefile's test target does it)"


def require_node_packages() -> None:
    if shutil.which("node") is None:
        pytest.fail("Node.js is not installed; these checks need Node 20+ and npm")
    for package in ("graphql-ws", "ws", "graphql-http", "@graphql-codegen/cli", "typescript"):
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            pytest.fail(
                f"npm package {package!r} is missing in tests/js/node_modules: {INSTALL_HINT}"
            )


def run_node(args: list[str], *, timeout: float = 90, env: dict[str, str] | None = None) -> str:
    require_node_packages()
    done = subprocess.run(
        args,
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def last_json_line(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


class Server:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`watchparty serve` on PostgreSQL and Redis, as it runs in production (APP_ENV=test)."""
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    prefix = f"wpjs-{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "AUTO_MIGRATE": "false",  # the session database is already migrated
        "ALLOWED_ORIGINS": "http://localhost:3000",
        "DATA_DIR": str(tmp),
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        **{key.upper(): value for key, value in RELAXED_LIMITS.items()},
    }
    log = tmp / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(WATCHPARTY), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp,  # no stray .env from the developer's checkout
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"watchparty serve exited {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"watchparty serve did not answer /healthz:\n{log.read_text()}")
            time.sleep(0.1)
        yield Server(base_url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_graphql_ws_client_signs_in_runs_me_and_sees_4403(server: Server) -> None:
    result = last_json_line(run_node(["node", "ws_client.mjs", server.base_url]))
    me = result["me"]
    assert me["error"] is None, me
    assert me["results"] == [
        {
            "data": {
                "me": {"id": result["userId"], "email": result["email"], "displayName": "WS Client"}
            }
        }
    ]
    assert result["anonymousMe"] == {"results": [{"data": {"me": None}}], "error": None}
    bad = result["badToken"]
    assert bad["results"] == []
    assert bad["error"]["closeCode"] == 4403, bad
    assert bad["closes"] == [4403]


def test_graphql_ws_client_follows_the_party_stream(server: Server) -> None:
    result = last_json_line(run_node(["node", "party_stream.mjs", server.base_url]))
    assert result["error"] is None, result
    items = result["items"]
    assert items[0]["event"] == {
        "__typename": "PartySnapshot",
        "party": {"id": result["partyId"], "title": "JS party"},
    }
    assert items[0]["resync"] is False
    stored = [item for item in items[1:] if item["cursor"] is not None]
    assert [item["event"]["__typename"] for item in stored] == ["MemberJoined", "PlaybackChanged"]
    assert stored[0]["event"]["member"] == {"user": {"id": result["guestId"]}, "role": "MEMBER"}
    assert stored[1]["event"]["playback"]["positionSeconds"] == 42
    assert int(stored[1]["cursor"]) == int(stored[0]["cursor"]) + 1 == int(items[0]["cursor"]) + 2


def test_graphql_http_audit_passes_every_must_and_should(server: Server) -> None:
    report = last_json_line(run_node(["node", "audit.mjs", f"{server.base_url}/graphql"]))
    counts = report["counts"]
    summary = ", ".join(
        f"{level}: {c['ok']}/{c['total']} ok" for level, c in sorted(counts.items())
    )
    print(f"graphql-http audit ({report['total']} audits): {summary}")
    failing = [
        f"{item['status']}: {item['name']} ({item['reason']})"
        for item in report["notOk"]
        if item["level"] in ("MUST", "SHOULD")
    ]
    assert not failing, f"{summary}\n" + "\n".join(failing)
    assert counts["MUST"]["ok"] == counts["MUST"]["total"] > 0
    assert counts["SHOULD"]["ok"] == counts["SHOULD"]["total"] > 0


def test_codegen_types_from_schema_graphql_compile_with_tsc() -> None:
    if not SCHEMA.exists():
        pytest.fail("schema.graphql is missing: run `watchparty export-schema`")
    generated = JS_DIR / "generated"
    shutil.rmtree(generated, ignore_errors=True)
    bin_dir = JS_DIR / "node_modules" / ".bin"
    run_node(
        [str(bin_dir / "graphql-codegen"), "--config", "codegen.yml"],
        env={"SCHEMA_PATH": str(SCHEMA)},
    )
    schema_ts = (generated / "schema.ts").read_text()
    operations_ts = (generated / "operations.ts").read_text()
    assert "export type User = {" in schema_ts
    assert "export type UserError = {" in schema_ts
    assert "export type RegisterMutation = {" in operations_ts
    assert "export type MeQuery = {" in operations_ts
    # Custom scalars are mapped (strictScalars: an unmapped one fails generation).
    assert "DateTime: { input: string; output: string; }" in schema_ts
    assert "JSON: { input: unknown; output: unknown; }" in schema_ts
    assert "payload: unknown, sentAt: string" in operations_ts  # the signals subscription
    run_node([str(bin_dir / "tsc"), "--noEmit", "-p", "tsconfig.json"])
