"""Shared by the benchmarks: servers as real subprocesses, scratch stacks, the subscriber swarm,
process statistics and percentiles. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

# The party every bench creates and joins through the API.
CREATE_PARTY = """
mutation Create($input: CreatePartyInput!) {
  createParty(input: $input) {
    __typename
    ... on PartyPayload { party { id code } }
    ... on UserError { code message }
  }
}
"""

JOIN_PARTY = """
mutation Join($input: JoinPartyInput!) {
  joinParty(input: $input) { __typename ... on UserError { code message } }
}
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")

RELAXED_LIMITS = {
    "RATE_LIMIT_LOGIN_IP": "100000/60",
    "RATE_LIMIT_LOGIN_ACCOUNT": "100000/60",
    "RATE_LIMIT_REGISTER_IP": "100000/60",
}


def stop_on_sigterm() -> None:
    """`timeout` and CI send SIGTERM: unwind like Ctrl-C so servers, client processes, scratch
    databases and Redis keys are cleaned up by the `finally` blocks."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU use of some processes over an interval, as a fraction of one core; `machine()` is
    the whole machine's use over the same interval (0..1 of all cores): near 1, everything on
    it (the other processes too) competed for the CPU and the figures are machine-bound."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = list(pids)
        self.start_wall = time.monotonic()
        self.start = {pid: cpu_seconds(pid) for pid in self.pids}
        self.start_machine = machine_ticks()
        self.start_self = sum(os.times()[:2])

    def read(self) -> dict[int, float]:
        wall = max(time.monotonic() - self.start_wall, 1e-9)
        return {pid: (cpu_seconds(pid) - self.start[pid]) / wall for pid in self.pids}

    def machine(self) -> float:
        busy, total = machine_ticks()
        return (busy - self.start_machine[0]) / max(total - self.start_machine[1], 1)

    def own(self) -> float:
        """This (the publishing) process."""
        wall = max(time.monotonic() - self.start_wall, 1e-9)
        return (sum(os.times()[:2]) - self.start_self) / wall


def fmt_ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f}"


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """Environment for a `watchparty` process: embedded (SQLite + memory) or production-like
    (a scratch PostgreSQL database and a unique Redis key prefix). `close()` removes it all."""

    kind: str  # "embedded" | "postgres"
    env: dict[str, str]
    workdir: Path
    database: str | None = None
    prefix: str | None = None

    @classmethod
    async def create(cls, kind: str, **extra_env: str) -> Stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"wpbench-{kind}-"))
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "REDIS_URL", "BROADCAST_URL", "REDIS_KEY_PREFIX")
        }
        env.update(
            {
                "APP_ENV": "development",
                "DATA_DIR": str(workdir / "data"),
                "LOG_LEVEL": "WARNING",
                "LOG_FORMAT": "console",
                "ACCESS_TOKEN_TTL_SECONDS": "3600",
                **RELAXED_LIMITS,
            }
        )
        stack = cls(kind, env, workdir)
        if kind == "postgres":
            stack.database = f"wp_bench_{uuid.uuid4().hex[:10]}"
            stack.prefix = f"wpbench-{uuid.uuid4().hex[:8]}:"
            await _admin_sql(f'CREATE DATABASE "{stack.database}"')
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            env["DATABASE_URL"] = f"{base}/{stack.database}"
            env["REDIS_URL"] = REDIS_URL
            env["REDIS_KEY_PREFIX"] = stack.prefix
            await run_checked([str(BIN / "watchparty"), "migrate"], env, workdir)
        elif kind != "embedded":
            raise ValueError(kind)
        env.update(extra_env)
        return stack

    def settings(self) -> Any:
        """The same Settings the server process reads (for seeding accounts directly)."""
        from watchparty.config import Settings

        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            return Settings(_env_file=None)  # type: ignore[call-arg]
        finally:
            os.environ.clear()
            os.environ.update(saved)

    async def close(self) -> None:
        if self.database is not None:
            with contextlib.suppress(Exception):
                await _admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.prefix is not None:
            with contextlib.suppress(Exception):
                await delete_redis_prefix(self.prefix)
        shutil.rmtree(self.workdir, ignore_errors=True)


async def _admin_sql(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def delete_redis_prefix(prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 500):
            await redis.delete(*keys[start : start + 500])
        # Every key the project writes is under the prefix, ARQ's included (resilient_worker).
    finally:
        await redis.aclose()


async def run_checked(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{output.decode()[-2000:]}")


@dataclass
class Server:
    """A server as a real subprocess on a loopback port."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    label: str
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    tracemalloc_dir: Path | None = None
    snapshots: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, timeout: float = 60.0) -> None:
        if self.tracemalloc_dir is not None:
            timeout *= 4  # importing everything under tracemalloc is slow
        self.log_path = self.cwd / f"server-{self.port}.log"
        handle = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, cwd=self.cwd, stdout=handle, stderr=handle
        )
        handle.close()
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.label} exited:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(self.base_url + "/healthz", timeout=1.0)
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.label} did not start:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def snapshot(self, timeout: float = 300.0) -> int:
        """Have the server (started with `tracemalloc_dir`) collect and dump a tracemalloc
        snapshot (probe/sitecustomize.py); returns its number once it is written."""
        assert self.tracemalloc_dir is not None
        self.snapshots += 1
        done = self.tracemalloc_dir / f"done-{self.snapshots}"
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while not done.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: no tracemalloc snapshot in {timeout:.0f}s")
            await asyncio.sleep(0.2)
        return self.snapshots

    def tail(self, size: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-size:]

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def watchparty_server(
    stack: Stack,
    label: str,
    gc_stats: Path | None = None,
    tracemalloc_dir: Path | None = None,
) -> Server:
    """`watchparty serve` on a free port. With BENCH_PROFILE_DIR set, the server runs under
    cProfile and writes `<dir>/server-<port>.prof` when it stops (for finding the hot spots).
    `gc_stats` / `tracemalloc_dir` turn on `probe/sitecustomize.py` in the server: every
    collection's pause written to that file at exit, `tracemalloc` snapshots on `snapshot()`."""
    env = stack.env
    if gc_stats is not None or tracemalloc_dir is not None:
        env = dict(env)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(BENCH_DIR / "probe") + (os.pathsep + path if path else "")
        if gc_stats is not None:
            env["WATCHPARTY_PROBE_GC_STATS"] = str(gc_stats)
        if tracemalloc_dir is not None:
            tracemalloc_dir.mkdir(parents=True, exist_ok=True)
            env["WATCHPARTY_PROBE_TRACEMALLOC"] = str(tracemalloc_dir)
    port = free_port()
    argv = [str(BIN / "watchparty"), "serve", "--port", str(port)]
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if profile_dir:
        output = Path(profile_dir) / f"server-{port}.prof"
        argv = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(output),
            "-m",
            "watchparty.cli",
            *argv[1:],
        ]
    server = Server(argv, env, stack.workdir, port, label)
    server.tracemalloc_dir = tracemalloc_dir
    return server


def raw_server(workdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "raw_server.py"), "--port", str(port)]
    return Server(argv, dict(os.environ), workdir, port, "raw")


@contextlib.asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# -- GraphQL over HTTP -----------------------------------------------------------------------


class GraphQLError(RuntimeError):
    pass


async def gql(
    client: httpx.AsyncClient,
    base_url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        base_url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30.0,
    )
    body = response.json()
    if body.get("errors"):
        raise GraphQLError(json.dumps(body["errors"])[:1000])
    data: dict[str, Any] = body["data"]
    return data


class Poster:
    """A minimal HTTP/1.1 POST client on keep-alive loopback connections, for the publisher.

    httpx costs a few ms of CPU per request, and the publisher shares the 2 cores with the
    server under test: with httpx it took half a core at saturation. This one writes a
    pre-formatted request and reads back one Content-Length response (uvicorn always sends one
    for these endpoints), about 20x cheaper.
    """

    def __init__(self, base_url: str, size: int = 16) -> None:
        parts = base_url.split("://", 1)[1]
        self.host, port = parts.split(":")
        self.port = int(port)
        self.size = size
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.gate = asyncio.Semaphore(size)

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        """POST `body`; returns the response body; raises on a non-2xx status."""
        head = [
            f"POST {path} HTTP/1.1",
            f"host: {self.host}:{self.port}",
            "content-type: application/json",
            f"content-length: {len(body)}",
        ]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        async with self.gate:
            while True:
                reused = bool(self.idle)
                if reused:
                    reader, writer = self.idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(request)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionResetError("closed by the server")
                    length = 0
                    while True:
                        line = await reader.readline()
                        if line in (b"\r\n", b""):
                            break
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    payload = await reader.readexactly(length) if length else b""
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    if reused:
                        continue  # a keep-alive connection the server had closed: retry once
                    raise
                break
            self.idle.append((reader, writer))
        status = int(status_line.split()[1])
        if not 200 <= status < 300:
            raise RuntimeError(f"POST {path}: {status} {payload[:300]!r}")
        return payload

    async def gql(
        self, query: str, variables: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = json.loads(await self.post("/graphql", body, headers))
        if answer.get("errors"):
            raise GraphQLError(json.dumps(answer["errors"])[:1000])
        data: dict[str, Any] = answer["data"]
        return data

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


# -- accounts --------------------------------------------------------------------------------


@dataclass
class Account:
    user_id: uuid.UUID
    token: str


async def seed_accounts(stack: Stack, count: int, tag: str) -> list[Account]:
    """`count` users, each with a sign-in (refresh family) and an access token, written straight
    to the database: registering through the API costs one Argon2 hash (~0.12 s) each, which
    would dominate a 1,000-subscriber setup. Everything measured goes through the API."""
    from watchparty.access_tokens import AccessTokens
    from watchparty.accounts.models import User
    from watchparty.accounts.passwords import hash_password
    from watchparty.accounts.tokens import start_session
    from watchparty.db import create_engine, create_sessionmaker

    settings = stack.settings()
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    password_hash = hash_password("bench password 0123")
    tokens = AccessTokens(settings)
    accounts: list[Account] = []
    try:
        async with sessionmaker() as session:
            for index in range(count):
                user = User(
                    email=f"bench-{tag}-{index}-{uuid.uuid4().hex[:6]}@example.com",
                    display_name=f"Viewer {index}",
                    password_hash=password_hash,
                )
                session.add(user)
                await session.flush()
                family, _ = await start_session(
                    session, user, settings, user_agent="bench", ip_address="127.0.0.1"
                )
                accounts.append(Account(user.id, tokens.issue(user.id, family.id).token))
            await session.commit()
    finally:
        await engine.dispose()
    return accounts


# -- the subscriber swarm --------------------------------------------------------------------


@dataclass
class ClientProcess:
    process: asyncio.subprocess.Process
    size: int
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None


class Swarm:
    """N subscribers spread over `processes` child processes running `wsclient.py`."""

    def __init__(self) -> None:
        self.clients: list[ClientProcess] = []
        self.done: dict[int, int] = {}  # event k -> client processes that have it everywhere
        self.complete: dict[int, asyncio.Event] = {}
        self.ready = 0
        self.failed = 0

    @property
    def pids(self) -> list[int]:
        return [client.process.pid for client in self.clients]

    async def start(
        self,
        url: str,
        inits: list[dict[str, Any]],
        query: str,
        variables: dict[str, Any],
        processes: int,
        marker: str = "bench#",
        end: str = "#",
    ) -> None:
        chunks = [inits[index::processes] for index in range(processes)]
        started: list[ClientProcess] = []
        for chunk in chunks:
            if not chunk:
                continue
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH_DIR / "wsclient.py"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024,
            )
            client = ClientProcess(process, len(chunk))
            config = {
                "url": url,
                "inits": chunk,
                "query": query,
                "variables": variables,
                "marker": marker,
                "end": end,
                "concurrency": 25,
            }
            assert process.stdin is not None
            process.stdin.write(json.dumps(config).encode() + b"\n")
            await process.stdin.drain()
            client.reader = asyncio.create_task(self._read(client))
            self.clients.append(client)
            started.append(client)
        for client in started:
            message = await asyncio.wait_for(client.lines.get(), 300)
            self.ready += int(message["ready"])
            self.failed += int(message["failed"])

    async def _read(self, client: ClientProcess) -> None:
        assert client.process.stdout is not None
        while True:
            line = await client.process.stdout.readline()
            if not line:
                return
            message = json.loads(line)
            if "done" in message:
                k = int(message["done"])
                self.done[k] = self.done.get(k, 0) + 1
                if self.done[k] >= len(self.clients):
                    self.event_for(k).set()
            else:
                await client.lines.put(message)

    def event_for(self, k: int) -> asyncio.Event:
        event = self.complete.get(k)
        if event is None:
            event = self.complete[k] = asyncio.Event()
        return event

    async def _command(self, command: str) -> list[dict[str, Any]]:
        for client in self.clients:
            assert client.process.stdin is not None
            client.process.stdin.write(command.encode() + b"\n")
            await client.process.stdin.drain()
        return [await asyncio.wait_for(client.lines.get(), 60) for client in self.clients]

    async def reset(self) -> None:
        self.done.clear()
        self.complete.clear()
        await self._command("reset")

    async def report(self) -> Report:
        replies = await self._command("report")
        report = Report()
        for reply in replies:
            body = reply["report"]
            report.live += body["live"]
            report.ended += body["ended"]
            report.frames += body["frames"]
            report.sample = report.sample or body.get("sample", "")
            for key, count in body.get("orders", {}).items():
                report.orders[key] = report.orders.get(key, 0) + count
            for key, (count, first, last) in body["events"].items():
                k = int(key)
                entry = report.events.get(k)
                if entry is None:
                    report.events[k] = [count, first, last]
                else:
                    entry[0] += count
                    entry[1] = min(entry[1], first)
                    entry[2] = max(entry[2], last)
        return report

    async def close(self) -> None:
        for client in self.clients:
            if client.process.returncode is None and client.process.stdin is not None:
                with contextlib.suppress(Exception):
                    client.process.stdin.write(b"quit\n")
                    await client.process.stdin.drain()
        for client in self.clients:
            try:
                await asyncio.wait_for(client.process.wait(), 10)
            except TimeoutError:
                client.process.kill()
                await client.process.wait()
            if client.reader is not None:
                client.reader.cancel()


@dataclass
class Report:
    events: dict[int, list[float]] = field(default_factory=dict)  # k -> [count, first, last]
    live: int = 0
    ended: int = 0
    frames: int = 0
    sample: str = ""
    # connections per distinct "<hash of the event sequence>:<events>" since the last reset: one
    # key when every subscriber received the same events in the same order
    orders: dict[str, int] = field(default_factory=dict)


def gc_summary(stats: dict[str, Any], since: float) -> dict[str, Any]:
    """The server's collections once it served (probe/sitecustomize.py), per generation: how
    many, the longest pause (wall and CPU ms), the p50 and the total."""
    generations = {}
    for gen, every in stats["pauses"].items():
        rows = [row for row in every if row[3] >= since]
        walls = sorted(row[0] for row in rows)
        cpus = sorted(row[1] for row in rows)
        generations[gen] = {
            "count": len(rows),
            "max_ms": walls[-1] if walls else 0.0,
            "max_cpu_ms": cpus[-1] if cpus else 0.0,
            "p50_ms": percentile(walls, 50) if walls else 0.0,
            "total_ms": sum(walls),
            "over_50ms": sum(1 for w in walls if w > 50),
            "walked_max": max((row[4] for row in rows), default=0),
        }
    return {
        "generations": generations,
        "tracked_at_exit": stats["tracked_at_exit"],
        "frozen_at_exit": stats["frozen_at_exit"],
        "threshold": stats["threshold"],
    }
