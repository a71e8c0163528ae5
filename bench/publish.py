"""The publishing mutation's latency (issue 15): how long a party host waits for `seek`, `play`,
`pause`, `setPlaybackRate` and `sendMessage`, next to a trivial query (`serverTime`) that shows
the HTTP + GraphQL floor of the same server in the same run.

    .venv/bin/python bench/publish.py [--stacks embedded,postgres] [--count 200]
        [--subscribers 10] [--profile] [--json]

Per stack, a fresh `watchparty serve` process (SQLite + in-memory hub, or a scratch PostgreSQL
database + Redis), a PUBLIC party with one video whose host signs in (seeded account), and
`--subscribers` members following `partyEvents` over WebSocket with the README's selection (so
every control really fans out). The host then sends `--count` rounds over one HTTP keep-alive
connection (httpx), sequentially, each round one of each: `serverTime`, `sendMessage`, `seek`
(while paused), `play`, `setPlaybackRate`, `pause` (the order keeps every control a real change:
nothing is a no-op). Reported per operation: p50/p99 of the client's round trip and of the
server's own time, read from the `Server-Timing: app;dur=<ms>` header every response carries
(`watchparty.logs.AccessLogMiddleware`: from the request's arrival to the response head).

`--trace` runs the server through `trace_server.py` and prints the median start and duration of
each span of the request (sign-in check, service steps, every SQL statement, commit, after-commit
work); run one operation at a time (`--operations seek`). `--profile` runs the server under
cProfile (BENCH_PROFILE_DIR) and prints the top cumulative entries of the run
(`--profile-lines`), restricted to the mutation path (`--profile-filter`). Profiled figures
are slower than real ones: read them for shares, not for milliseconds.

Loopback only; the machine is shared with the server, so read the load average printed with
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import (
    BENCH_DIR,
    CREATE_PARTY,
    JOIN_PARTY,
    Account,
    Stack,
    Swarm,
    gql,
    log,
    percentile,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)

SUBSCRIPTION = """
subscription Follow($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor occurredAt resync
    event { __typename ... on PartySnapshot { party { id playback { revision } } }
            ... on PlaybackChanged { playback { state positionSeconds anchorServerTimeMs rate
                                                revision previous { state positionSeconds
                                                anchorServerTimeMs rate } } }
            ... on ChatMessageAdded { message { id body author { displayName } } } }
  }
}
"""

# What a player answers with: the new state (it applies it at once rather than waiting for the
# stream) or the error.
PLAYBACK_SELECTION = """{ __typename
    ... on PlaybackPayload { playback { state positionSeconds anchorServerTimeMs rate revision } }
    ... on UserError { code message } }"""

OPERATIONS: dict[str, tuple[str, str]] = {
    # name -> (GraphQL document, result field)
    "serverTime": (
        "query Clock($t: Float!) { serverTime(clientTimeMs: $t) { serverReceivedMs } }",
        "serverTime",
    ),
    "sendMessage": (
        "mutation Chat($input: SendMessageInput!) { sendMessage(input: $input) { __typename"
        " ... on ChatMessagePayload { chatMessage { id } } ... on UserError { code message } } }",
        "sendMessage",
    ),
    "seek": (
        f"mutation Seek($input: SeekInput!) {{ seek(input: $input) {PLAYBACK_SELECTION} }}",
        "seek",
    ),
    "play": (
        "mutation Play($input: PlaybackControlInput!) "
        f"{{ play(input: $input) {PLAYBACK_SELECTION} }}",
        "play",
    ),
    "setPlaybackRate": (
        "mutation Rate($input: SetPlaybackRateInput!) "
        f"{{ setPlaybackRate(input: $input) {PLAYBACK_SELECTION} }}",
        "setPlaybackRate",
    ),
    "pause": (
        "mutation Pause($input: PlaybackControlInput!) "
        f"{{ pause(input: $input) {PLAYBACK_SELECTION} }}",
        "pause",
    ),
}


def variables(name: str, party_id: str, k: int) -> dict[str, Any]:
    if name == "serverTime":
        return {"t": time.time() * 1000}
    if name == "sendMessage":
        return {"input": {"partyId": party_id, "body": f"bench#{k:06d}# a chat-sized message"}}
    if name == "seek":
        return {"input": {"partyId": party_id, "positionSeconds": float(10 + k % 500)}}
    if name == "setPlaybackRate":
        return {"input": {"partyId": party_id, "rate": 1.5 if k % 2 else 1.25}}
    return {"input": {"partyId": party_id}}


@dataclass
class Samples:
    client: list[float] = field(default_factory=list)  # ms
    server: list[float] = field(default_factory=list)  # ms (Server-Timing app;dur)


@dataclass
class StackResult:
    stack: str
    subscribers: int
    count: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    samples: dict[str, Samples] = field(default_factory=dict)
    profile: str = ""


def server_timing(response: httpx.Response) -> float | None:
    for part in response.headers.get("server-timing", "").split(","):
        name, _, params = part.strip().partition(";")
        if name == "app":
            for param in params.split(";"):
                key, _, value = param.partition("=")
                if key.strip() == "dur":
                    return float(value)
    return None


async def setup(
    stack: Stack, base_url: str, subscribers: int
) -> tuple[str, Account, list[Account]]:
    accounts = await seed_accounts(stack, subscribers + 1, tag="publish")
    host, members = accounts[0], accounts[1:]
    async with httpx.AsyncClient() as client:
        data = await gql(
            client,
            base_url,
            CREATE_PARTY,
            {
                "input": {
                    "title": "publish benchmark",
                    "visibility": "PUBLIC",
                    "maxMembers": subscribers + 1,
                    "waitForBuffering": False,
                    "media": {
                        "url": "https://example.com/publish.mp4",
                        "title": "publish",
                        "durationSeconds": 7200.0,
                    },
                }
            },
            token=host.token,
        )
        created = data["createParty"]
        if "party" not in created:
            raise RuntimeError(f"createParty failed: {created}")
        party_id = str(created["party"]["id"])
        for member in members:
            joined = await gql(
                client, base_url, JOIN_PARTY, {"input": {"partyId": party_id}}, member.token
            )
            if "code" in joined["joinParty"]:
                raise RuntimeError(f"joinParty failed: {joined}")
    return party_id, host, members


async def one(
    client: httpx.AsyncClient, url: str, token: str, name: str, party_id: str, k: int
) -> tuple[float, float | None]:
    document, result_field = OPERATIONS[name]
    body = {"query": document, "variables": variables(name, party_id, k)}
    started = time.perf_counter()
    response = await client.post(url, json=body, headers={"authorization": f"Bearer {token}"})
    elapsed = (time.perf_counter() - started) * 1000
    answer = response.json()
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"{name}: {response.status_code} {str(answer)[:500]}")
    result = answer["data"][result_field]
    if "code" in result:
        raise RuntimeError(f"{name} refused: {result}")
    return elapsed, server_timing(response)


async def run_stack(kind: str, args: argparse.Namespace) -> StackResult:
    profile_dir = tempfile.mkdtemp(prefix="wpbench-publish-prof-") if args.profile else None
    if profile_dir:
        os.environ["BENCH_PROFILE_DIR"] = profile_dir
    # The host publishes as fast as the benchmark asks: lift the chat flood limit.
    stack = await Stack.create(kind, RATE_LIMIT_CHAT="1000000/1")
    result = StackResult(kind, args.subscribers, args.count, os.getloadavg())
    server = watchparty_server(stack, f"watchparty ({kind})")
    if args.trace:  # the same server with wall-clock spans per request (trace_server.py)
        server.argv = [sys.executable, str(BENCH_DIR / "trace_server.py"), *server.argv[1:]]
    swarm = Swarm()
    try:
        await server.start()
        party_id, host, members = await setup(stack, server.base_url, args.subscribers)
        if members:
            inits = [{"authorization": f"Bearer {member.token}"} for member in members]
            await swarm.start(
                server.ws_url, inits, SUBSCRIPTION, {"partyId": party_id}, processes=1
            )
            if swarm.ready < len(members):
                raise RuntimeError(f"only {swarm.ready} of {len(members)} subscribers connected")
        url = server.base_url + "/graphql"
        names = [name for name in OPERATIONS if name in args.operations.split(",")]
        result.samples = {name: Samples() for name in names}
        async with httpx.AsyncClient(timeout=30.0) as client:
            for k in range(args.warmup + args.count):
                for name in names:
                    elapsed, server_ms = await one(client, url, host.token, name, party_id, k)
                    if k >= args.warmup:
                        samples = result.samples[name]
                        samples.client.append(elapsed)
                        if server_ms is not None:
                            samples.server.append(server_ms)
        result.load_after = os.getloadavg()
    except Exception:
        log(f"{kind} failed:\n{server.tail()}")
        raise
    finally:
        await swarm.close()
        await server.stop()
        if args.trace and server.log_path is not None and server.log_path.exists():
            result.profile = trace_summary(server.log_path.read_text(errors="replace"), args)
        await stack.close()
        if profile_dir:
            os.environ.pop("BENCH_PROFILE_DIR", None)
    if profile_dir:
        result.profile = read_profile(Path(profile_dir), args.profile_filter, args.profile_lines)
    return result


def trace_summary(log_text: str, args: argparse.Namespace) -> str:
    """Median start and duration of each span, per operation (requests after the warm-up, one
    operation per run: use `--operations seek`, then `--operations sendMessage`)."""
    requests = [json.loads(line) for line in log_text.splitlines() if line.startswith('{"total"')]
    requests = requests[-args.count * len(args.operations.split(",")) :]
    if not requests:
        return "  (no traced requests)"
    starts: dict[str, list[float]] = {}
    durations: dict[str, list[float]] = {}
    for request in requests:
        seen: dict[str, int] = {}
        for name, start, duration in request["spans"]:
            key = f"{name} #{seen.get(name, 0)}"
            seen[name] = seen.get(name, 0) + 1
            starts.setdefault(key, []).append(start)
            durations.setdefault(key, []).append(duration)
    lines = [
        f"  {len(requests)} requests, total p50 "
        f"{statistics.median(r['total'] for r in requests):.2f} ms",
        f"  {'start ms':>9} {'ms':>7}  span",
    ]
    common = [key for key in starts if len(starts[key]) >= len(requests) / 2]
    for key in sorted(common, key=lambda k: statistics.median(starts[k])):
        lines.append(
            f"  {statistics.median(starts[key]):9.2f} {statistics.median(durations[key]):7.2f}"
            f"  {key}"
        )
    return "\n".join(lines)


def read_profile(directory: Path, restriction: str, lines: int) -> str:
    out = io.StringIO()
    for path in sorted(directory.glob("*.prof")):
        stats = pstats.Stats(str(path), stream=out)
        stats.sort_stats("cumulative").print_stats(restriction, lines)
    return out.getvalue()


def fmt(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.2f}" if values else "n/a"


def print_results(results: list[StackResult], as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "stack": r.stack,
                        "subscribers": r.subscribers,
                        "count": r.count,
                        "load_before": r.load_before,
                        "load_after": r.load_after,
                        "operations": {
                            name: {
                                "client_p50_ms": percentile(s.client, 50),
                                "client_p99_ms": percentile(s.client, 99),
                                "server_p50_ms": percentile(s.server, 50) if s.server else None,
                                "server_p99_ms": percentile(s.server, 99) if s.server else None,
                            }
                            for name, s in r.samples.items()
                        },
                    }
                    for r in results
                ],
                indent=2,
            )
        )
        return
    for r in results:
        load = " ".join(f"{value:.2f}" for value in r.load_before)
        after = " ".join(f"{value:.2f}" for value in r.load_after)
        print(
            f"\n{r.stack}: {r.count} sequential rounds, {r.subscribers} subscribers "
            f"(load average {load} before, {after} after)"
        )
        print(f"  {'operation':<16} {'client p50':>10} {'p99':>8}   {'server p50':>10} {'p99':>8}")
        for name, s in r.samples.items():
            print(
                f"  {name:<16} {fmt(s.client, 50):>10} {fmt(s.client, 99):>8}   "
                f"{fmt(s.server, 50):>10} {fmt(s.server, 99):>8}"
            )
        if r.profile:
            what = "spans" if "span" in r.profile[:200] else "cProfile, cumulative"
            print(f"\n  {what} ({r.stack}):\n{r.profile}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="embedded,postgres")
    parser.add_argument("--count", type=int, default=200, help="rounds measured")
    parser.add_argument("--warmup", type=int, default=20, help="rounds before measuring")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--operations", default=",".join(OPERATIONS))
    parser.add_argument("--profile", action="store_true", help="run the server under cProfile")
    parser.add_argument("--profile-filter", default="watchparty|sqlalchemy|strawberry")
    parser.add_argument("--profile-lines", type=int, default=60)
    parser.add_argument(
        "--trace",
        action="store_true",
        help="wall-clock spans per request (bench/trace_server.py); one operation at a time",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> list[StackResult]:
    results = []
    for kind in args.stacks.split(","):
        log(f"{kind}: load average {os.getloadavg()[0]:.2f}")
        results.append(await run_stack(kind, args))
    return results


if __name__ == "__main__":
    stop_on_sigterm()
    arguments = parse_args()
    print_results(asyncio.run(main(arguments)), arguments.json)
