"""Fan-out: one party, N subscribers, chat-sized events; the real server next to the raw floor.

    .venv/bin/python bench/fanout.py                       # embedded + raw, 200 and 1,000
    .venv/bin/python bench/fanout.py --targets postgres,raw --sizes 200

For each target and each N, a fresh server process (`watchparty serve`, or `raw_server.py`) and N
graphql-transport-ws subscribers spread over `--processes` client processes per batch
(`wsclient.py`). The subscribers belong to `--members` members (default 100): each member's
first connection comes first (they come online one by one, announced in coalesced
PresenceChanged events), then the rest are the same members' other tabs and devices. Phases:

1. memory: server RSS before connecting, after the members came online, after all N: KB per
   connection overall, and per extra idle subscribed connection (free of the presence storm);
2. fixed rate, slow: 1,000 deliveries/s (5/s at 200 subscribers, 1/s at 1,000) for `--seconds`;
3. saturation: for `--saturation-seconds`, events published as fast as possible with at most
   `--window` events not yet received by every subscriber (a closed loop, so no subscriber
   queue can overflow): deliveries per second, from the first publish to the last delivery;
4. fixed rate, fast: 10,000 deliveries/s (50/s at 200, 10/s at 1,000; 50/s to 1,000 would be
   more than even the floor can send on 2 cores). `--rates fast,slow` overrides both.

Latency is from the publish (the mutation request leaving the publisher) to the LAST subscriber
receiving the event; p50/p99 over the events of a phase.

Events on the real server are `updateParty(input: {partyId, title})` mutations by the host,
delivered as `PartyUpdated` through the party stream (stored, cursor, snapshot, presence: the
whole path). The raw server broadcasts the identical frame bytes (captured from the real server
when it ran first in the same invocation). Every publish carries a marker `bench#<k>#`.

Server and clients share the machine's 2 cores; CPU use of each is printed so a client-bound run
shows up as such.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from common import (
    CREATE_PARTY,
    JOIN_PARTY,
    Account,
    CpuMeter,
    Poster,
    Server,
    Stack,
    Swarm,
    fmt_ms,
    gc_summary,
    gql,
    log,
    percentile,
    raw_server,
    rss_kb,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)
from memory import breakdown

# What a frontend sends (README "Following a party"), plus the fragment of the bench's event
# type (`{fragment}`): the default. `--minimal` uses the older selections below.
REALISTIC_SUBSCRIPTION = """
subscription Bench($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor occurredAt resync
    event { __typename ... on PartySnapshot { party { id playback { revision } } }
            ... on PlaybackChanged { playback {
                state positionSeconds anchorServerTimeMs rate revision
                previous { state positionSeconds anchorServerTimeMs rate } } }
            {fragment} }
  }
}
"""
EVENT_FRAGMENTS = {
    "party": "... on PartyUpdated { party { id title } }",
    "chat": "... on ChatMessageAdded { message { id body author { displayName } } }",
    "seek": "",
}

SUBSCRIPTION = """
subscription Bench($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    occurredAt
    event {
      __typename
      ... on PartyUpdated { party { id title } }
    }
  }
}
"""

# `--events chat`: the same benchmark with chat messages (issue 4): `sendMessage` by the host,
# delivered as stored `ChatMessageAdded` events.
CHAT_SUBSCRIPTION = """
subscription Bench($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    occurredAt
    event {
      __typename
      ... on ChatMessageAdded { message { id body author { displayName } } }
    }
  }
}
"""

MINIMAL_SEEK_SUBSCRIPTION = """
subscription Bench($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    cursor
    event { __typename ... on PlaybackChanged { playback { positionSeconds } } }
  }
}
"""

SEND_MESSAGE = """
mutation Publish($input: SendMessageInput!) {
  sendMessage(input: $input) { __typename ... on UserError { code message } }
}
"""

# `--events seek`: host `seek`s to position k (the marker: `"positionSeconds":<k>.`), delivered as
# stored PlaybackChanged events.
SEEK = """
mutation Publish($input: SeekInput!) {
  seek(input: $input) { __typename ... on UserError { code message } }
}
"""
SEEK_MARKER = ('"positionSeconds":', ".")
SEEK_RANGE = 600_000  # seek positions are at most a week; the phases' k stay below this
SEEK_POSITION = re.compile(r'("positionSeconds":\s*)\d+')

UPDATE_PARTY = """
mutation Publish($input: UpdatePartyInput!) {
  updateParty(input: $input) { __typename ... on UserError { code message } }
}
"""

# Used by the raw floor when the real server did not run first: the shape and size of the frame
# the real server sends for one PartyUpdated with the selection above.
SYNTHETIC_FRAME = (
    '{"id":"1","type":"next","payload":{"data":{"partyEvents":{"cursor":"123",'
    '"occurredAt":"2026-11-25T20:00:00.000000+00:00","event":{"__typename":"PartyUpdated",'
    '"party":{"id":"6c1f4f52-0d0b-4c1e-9d5e-6f0d1b8a2c3e","title":"bench#000001# a chat-sized '
    'message, about two hundred bytes on the wire"}}}}}}'
)
MARKER = re.compile(r"bench#\d+#")
TITLE_FILL = "a chat-sized message, about two hundred bytes on the wire"


def title(k: int) -> str:
    return f"bench#{k:06d}# {TITLE_FILL}"


class Target(Protocol):
    label: str
    server: Server

    def inits(self, n: int) -> list[dict[str, Any]]: ...

    def variables(self) -> dict[str, Any]: ...

    async def publish(self, client: Poster, k: int) -> None: ...


@dataclass
class RawTarget:
    server: Server
    frame: str
    label: str = "raw Starlette WebSocket (floor)"
    events: str = "party"  # "seek": the frame's marker is its first positionSeconds

    def inits(self, n: int) -> list[dict[str, Any]]:
        return [{} for _ in range(n)]

    def variables(self) -> dict[str, Any]:
        return {}

    async def publish(self, client: Poster, k: int) -> None:
        if self.events == "seek":
            body = SEEK_POSITION.sub(f"\\g<1>{k % SEEK_RANGE}", self.frame, count=1)
        else:
            body = MARKER.sub(f"bench#{k:06d}#", self.frame, count=1)
        await client.post("/publish", body.encode())


@dataclass
class GraphQLTarget:
    server: Server
    party_id: str
    host: Account
    members: list[Account]
    label: str
    events: str = "party"  # party (updateParty), chat (sendMessage), seek

    def inits(self, n: int) -> list[dict[str, Any]]:
        """Connection i belongs to member i mod M: each member's first connection comes first
        (they come online one by one), the rest are the same members' other tabs/devices."""
        accounts = [self.host, *self.members]
        return [{"authorization": f"Bearer {accounts[i % len(accounts)].token}"} for i in range(n)]

    def variables(self) -> dict[str, Any]:
        return {"partyId": self.party_id}

    async def publish(self, client: Poster, k: int) -> None:
        if self.events == "seek":
            data = await client.gql(
                SEEK,
                {"input": {"partyId": self.party_id, "positionSeconds": k % SEEK_RANGE}},
                self.host.token,
            )
            if "code" in data["seek"]:
                raise RuntimeError(f"seek failed: {data['seek']}")
            return
        if self.events == "chat":
            data = await client.gql(
                SEND_MESSAGE,
                {"input": {"partyId": self.party_id, "body": title(k)}},
                self.host.token,
            )
            if "code" in data["sendMessage"]:
                raise RuntimeError(f"sendMessage failed: {data['sendMessage']}")
            return
        data = await client.gql(
            UPDATE_PARTY, {"input": {"partyId": self.party_id, "title": title(k)}}, self.host.token
        )
        result = data["updateParty"]
        if "code" in result:
            raise RuntimeError(f"updateParty failed: {result}")


async def setup_party(
    stack: Stack, server: Server, members: int
) -> tuple[str, Account, list[Account]]:
    """A PUBLIC party of `members` + 1 (the host); accounts seeded, memberships via the API."""
    log(f"seeding {members + 1} accounts")
    accounts = await seed_accounts(stack, members + 1, tag="fanout")
    host, rest = accounts[0], accounts[1:]
    async with httpx.AsyncClient() as client:
        data = await gql(
            client,
            server.base_url,
            CREATE_PARTY,
            {
                "input": {
                    "title": title(0),
                    "visibility": "PUBLIC",
                    "maxMembers": members + 1,
                    "media": {"url": "https://example.com/bench.mp4"},
                }
            },
            token=host.token,
        )
        created = data["createParty"]
        if "party" not in created:
            raise RuntimeError(f"createParty failed: {created}")
        party_id = created["party"]["id"]
        log(f"joining {members} members")
        gate = asyncio.Semaphore(8)

        async def join(account: Account) -> None:
            async with gate:
                result = await gql(
                    client,
                    server.base_url,
                    JOIN_PARTY,
                    {"input": {"partyId": party_id}},
                    token=account.token,
                )
                if "code" in result["joinParty"]:
                    raise RuntimeError(f"joinParty failed: {result['joinParty']}")

        await asyncio.gather(*(join(account) for account in rest))
    return party_id, host, rest


@dataclass
class Phase:
    name: str
    rate: float = 0.0
    published: dict[int, float] = field(default_factory=dict)
    started: float = 0.0
    latencies: list[float] = field(default_factory=list)
    deliveries: int = 0
    missing: int = 0
    duration: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: int = 0
    ended: int = 0  # streams that ended (overflow) by the end of the phase
    publisher_cpu: float = 0.0
    machine: float = 0.0  # the whole machine's CPU use, 0..1 of all cores

    @property
    def deliveries_per_second(self) -> float:
        return self.deliveries / self.duration if self.duration > 0 else 0.0

    def summary(self) -> str:
        return (
            f"p50 {fmt_ms(percentile(self.latencies, 50))} ms, "
            f"p99 {fmt_ms(percentile(self.latencies, 99))} ms, "
            f"{self.deliveries_per_second:,.0f} deliveries/s, server CPU {self.server_cpu:.0%}, "
            f"clients CPU {self.client_cpu:.0%}, publisher CPU {self.publisher_cpu:.0%}, "
            f"machine {self.machine:.0%} of 2 cores, missing {self.missing}, ended {self.ended}"
        )


@dataclass
class CaseResult:
    target: str
    subscribers: int
    members: int
    connect_seconds: float
    kb_per_connection: float  # all N connections, first connections' presence storm included
    kb_marginal: float  # the extra connections of members already online
    phases: list[Phase]
    frame_bytes: int = 0

    def phase(self, prefix: str) -> Phase | None:
        return next((p for p in self.phases if p.name.startswith(prefix)), None)


async def run_fixed(
    target: Target, swarm: Swarm, client: Poster, rate: float, count: int, base: int
) -> Phase:
    phase = Phase(f"fixed {rate:g}/s", rate=rate)
    await swarm.reset()
    meter = CpuMeter([*server_pids(target), *swarm.pids])
    tasks = []
    start = time.monotonic() + 0.05
    phase.started = start

    async def one(k: int) -> None:
        phase.published[k] = time.monotonic()
        try:
            await target.publish(client, k)
        except Exception as exc:
            phase.errors += 1
            log(f"publish {k} failed: {exc}")

    for index in range(count):
        at = start + index / rate
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        tasks.append(asyncio.create_task(one(base + index)))
    await asyncio.gather(*tasks)
    await wait_complete(swarm, phase, timeout=60)
    await finish(phase, swarm, target, meter)
    return phase


async def run_saturation(
    target: Target, swarm: Swarm, client: Poster, seconds: float, window: int, base: int
) -> Phase:
    phase = Phase(f"saturation (window {window})")
    await swarm.reset()
    meter = CpuMeter([*server_pids(target), *swarm.pids])
    slots = asyncio.Semaphore(window)
    phase.started = time.monotonic()

    async def one(k: int) -> None:
        try:
            phase.published[k] = time.monotonic()
            await target.publish(client, k)
            await asyncio.wait_for(swarm.event_for(k).wait(), 30)
        except Exception as exc:
            phase.errors += 1
            log(f"event {k} failed: {type(exc).__name__} {exc}")
        finally:
            slots.release()

    tasks = []
    stop = phase.started + seconds
    index = 0
    while time.monotonic() < stop:
        await slots.acquire()
        if phase.errors:
            break  # an event that never reached everybody: stop, report what was measured
        tasks.append(asyncio.create_task(one(base + index)))
        index += 1
    await asyncio.gather(*tasks)
    await finish(phase, swarm, target, meter)
    return phase


def server_pids(target: Target) -> list[int]:
    """The processes serving the target (`--server-processes 2`: both workers, or both servers)."""
    pids: list[int] | None = getattr(target, "pids", None)
    return pids if pids is not None else [target.server.pid]


async def wait_complete(swarm: Swarm, phase: Phase, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for k in phase.published:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(swarm.event_for(k).wait(), remaining)


async def finish(phase: Phase, swarm: Swarm, target: Target, meter: CpuMeter) -> None:
    cpu = meter.read()
    phase.machine = meter.machine()
    phase.publisher_cpu = meter.own()
    report = await swarm.report()
    last_seen = phase.started
    for k, sent in phase.published.items():
        entry = report.events.get(k)
        if entry is None:
            phase.missing += report.live
            continue
        count, _first, last = entry
        phase.deliveries += int(count)
        phase.missing += max(0, report.live - int(count))
        phase.latencies.append(last - sent)
        last_seen = max(last_seen, last)
    phase.duration = last_seen - phase.started
    phase.server_cpu = sum(cpu.pop(pid) for pid in server_pids(target))
    phase.client_cpu = sum(cpu.values())
    phase.ended = report.ended


async def quiesce(swarm: Swarm, quiet: float = 1.0, limit: float = 120.0) -> None:
    """Wait until no frames arrive for `quiet` seconds (presence events after a connect storm)."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        report = await swarm.report()
        if report.frames == last:
            return
        last = report.frames
    log("warning: subscribers still receiving frames after the connect storm")


def subscription_for(events: str, minimal: bool) -> str:
    if not minimal:
        return REALISTIC_SUBSCRIPTION.replace("{fragment}", EVENT_FRAGMENTS[events])
    if events == "seek":
        return MINIMAL_SEEK_SUBSCRIPTION
    return CHAT_SUBSCRIPTION if events == "chat" else SUBSCRIPTION


async def connect(
    swarm: Swarm, target: Target, inits: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    marker, end = SEEK_MARKER if args.events == "seek" else ("bench#", "#")
    query = subscription_for(args.events, args.minimal)
    await swarm.start(
        target.server.ws_url,
        inits,
        query,
        target.variables(),
        processes=args.processes,
        marker=marker,
        end=end,
    )
    await quiesce(swarm)


async def memory_breakdown(server: Server, directory: Path, n: int, members: int) -> None:
    """`--tracemalloc`: snapshot 1 before connecting, 2 with the members online, 3 with all
    N; print what each first (member) connection and each extra tab holds."""
    await server.snapshot()
    print(f"\n### {server.label}: each member's first connection ({members})\n")
    print(breakdown(directory, 1, 2, members))
    if n > members:
        print(f"\n### {server.label}: each extra connection of the same members ({n - members})\n")
        print(breakdown(directory, 2, 3, n - members))


def rates_for(n: int, args: argparse.Namespace) -> list[float]:
    if args.rates:
        return [float(rate) for rate in args.rates.split(",")]
    # 10,000 and 1,000 deliveries per second: 50/s and 5/s at 200, 10/s and 1/s at 1,000.
    return [10_000 / n, 1_000 / n]


async def run_case(target: Target, n: int, members: int, args: argparse.Namespace) -> CaseResult:
    server = target.server
    swarm = Swarm()
    members = min(members, n)
    inits = target.inits(n)
    result = CaseResult(target.label, n, members, 0.0, float("nan"), float("nan"), [])
    client = Poster(server.base_url, size=32)
    try:
        # Warm the publish path, then let the process settle before the memory baseline.
        await target.publish(client, 999_999)
        await asyncio.sleep(1.0)
        if server.tracemalloc_dir is not None:
            await server.snapshot()
        before = rss_kb(server.pid)
        try:
            log(f"{target.label}: {members} members come online (server {before / 1024:.1f} MiB)")
            started = time.monotonic()
            await connect(swarm, target, inits[:members], args)
            result.connect_seconds = time.monotonic() - started
            if server.tracemalloc_dir is not None:
                await server.snapshot()
            online = rss_kb(server.pid)
            if n > members:
                log(f"{target.label}: {n - members} more connections of the same members")
                await connect(swarm, target, inits[members:], args)
            after = rss_kb(server.pid)
            if server.tracemalloc_dir is not None:
                await asyncio.sleep(2.0)  # settle, as the RSS figures do
                await memory_breakdown(server, server.tracemalloc_dir, n, members)
                return result
            if swarm.ready < n:
                raise RuntimeError(f"only {swarm.ready} of {n} subscribers connected")
            result.kb_per_connection = (after - before) / n
            if n > members:
                result.kb_marginal = (after - online) / (n - members)
            log(
                f"{target.label}: {n} subscribed in {result.connect_seconds:.1f}s (first "
                f"{members}), server {after / 1024:.1f} MiB: {result.kb_per_connection:.1f} "
                f"KB/conn, {result.kb_marginal:.1f} KB per extra conn"
            )
            if args.memory_only:
                return result
            fast, slow = rates_for(n, args)[:2]
            phases: list[tuple[str, float]] = [("fixed", slow), ("saturation", 0), ("fixed", fast)]
            await run_fixed(target, swarm, client, slow, 10, base=1)  # warm-up, not reported
            base = 1000
            for kind, rate in phases:
                if kind == "fixed":
                    count = max(args.min_events, int(rate * args.seconds))
                    phase = await run_fixed(target, swarm, client, rate, count, base=base)
                else:
                    phase = await run_saturation(
                        target, swarm, client, args.saturation_seconds, args.window, base=base
                    )
                base += 100_000
                result.phases.append(phase)
                log(f"{target.label} {n} {phase.name}: {phase.summary()}")
            report = await swarm.report()
            result.frame_bytes = len(report.sample.encode())
            if report.sample and "frame" not in CAPTURE:
                CAPTURE["frame"] = report.sample
            return result
        finally:
            await swarm.close()
    finally:
        await client.close()


CAPTURE: dict[str, str] = {}  # the real server's event frame, for the floor to send


async def main(args: argparse.Namespace) -> list[CaseResult]:
    """Per size, every target in turn (the real servers first: the floor sends their frame), so
    both see the same machine conditions; a fresh server process per case."""
    results: list[CaseResult] = []
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = args.targets.split(",")
    kinds.sort(key=lambda kind: kind == "raw")
    # The host publishes as fast as the benchmark asks: lift the chat flood limit.
    stacks = {
        kind: await Stack.create(kind, RATE_LIMIT_CHAT="1000000/1")
        for kind in kinds
        if kind != "raw"
    }
    parties: dict[str, tuple[str, Account, list[Account]]] = {}
    try:
        for n in sizes:
            for kind in kinds:
                log(f"load average {os.getloadavg()[0]:.2f}")
                if kind == "raw":
                    with tempfile.TemporaryDirectory(prefix="wpbench-raw-") as workdir:
                        server = raw_server(Path(workdir))
                        try:
                            await server.start()
                            frame = CAPTURE.get("frame")
                            target: Target = RawTarget(
                                server,
                                frame or SYNTHETIC_FRAME,
                                events=args.events if frame else "party",
                            )
                            results.append(await run_case(target, n, args.members, args))
                        finally:
                            await server.stop()
                    continue
                stack = stacks[kind]
                gc_stats = stack.workdir / f"server-gc-{n}.json" if args.gc_stats else None
                server = watchparty_server(
                    stack,
                    f"watchparty ({kind})",
                    tracemalloc_dir=args.tracemalloc,
                    gc_stats=gc_stats,
                )
                try:
                    await server.start()
                    if kind not in parties:
                        parties[kind] = await setup_party(stack, server, args.members - 1)
                    party_id, host, members = parties[kind]
                    events = "" if args.events == "party" else f" {args.events}"
                    selection = " minimal" if args.minimal else ""
                    label = f"watchparty partyEvents{events}{selection} ({kind})"
                    target = GraphQLTarget(server, party_id, host, members, label, args.events)
                    results.append(await run_case(target, n, args.members, args))
                except Exception as exc:
                    log(f"{kind} at {n} failed: {exc}\n{server.tail()}")
                    raise
                finally:
                    await server.stop()
                    if gc_stats is not None and gc_stats.exists():
                        log_gc(f"watchparty ({kind}) {n}", json.loads(gc_stats.read_text()))
    finally:
        for stack in stacks.values():
            await stack.close()
    log(f"load average {os.getloadavg()[0]:.2f}")
    return results


def log_gc(label: str, stats: dict[str, Any]) -> None:
    """The server's collections over the whole run (`--gc-stats`), per generation."""
    summary = gc_summary(stats, 0.0)
    for gen, g in summary["generations"].items():
        log(
            f"{label} GC generation {gen}: {g['count']} collections, longest "
            f"{g['max_ms']:.1f} ms ({g['max_cpu_ms']:.1f} CPU), {g['over_50ms']} over 50 ms, "
            f"{g['total_ms']:.0f} ms in all, at most {g['walked_max']:,} objects walked"
        )


def print_results(results: list[CaseResult], as_json: bool) -> None:
    if as_json:
        print(json.dumps([result_dict(r) for r in results], indent=2))
        return
    print(
        "| server | subscribers (members) | phase | p50 ms | p99 ms | deliveries/s "
        "| server CPU | clients CPU | machine busy | missing |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for p in r.phases:
            print(
                f"| {r.target} | {r.subscribers} ({r.members}) | {p.name} "
                f"| {fmt_ms(percentile(p.latencies, 50))} | {fmt_ms(percentile(p.latencies, 99))} "
                f"| {p.deliveries_per_second:,.0f} | {p.server_cpu:.0%} | {p.client_cpu:.0%} "
                f"| {p.machine:.0%} | {p.missing} |"
            )
    print()
    print("| server | subscribers (members) | KB/conn (all) | KB/extra conn | first online in |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.target} | {r.subscribers} ({r.members}) | {r.kb_per_connection:.1f} "
            f"| {r.kb_marginal:.1f} | {r.connect_seconds:.1f} s |"
        )
    print()
    by_size: dict[int, list[CaseResult]] = {}
    for r in results:
        by_size.setdefault(r.subscribers, []).append(r)
    for n, cases in sorted(by_size.items()):
        floor = next((r for r in cases if r.target.startswith("raw")), None)
        if floor is None:
            continue
        for r in cases:
            if r is floor:
                continue
            parts = []
            for p in r.phases:
                q = floor.phase(p.name)
                if q is None:
                    continue
                if p.name.startswith("fixed"):
                    ratio = percentile(p.latencies, 99) / percentile(q.latencies, 99)
                    parts.append(f"{p.name} p99 {ratio:.2f}x")
                else:
                    ratio = p.deliveries_per_second / max(q.deliveries_per_second, 1e-9)
                    parts.append(f"saturation deliveries/s {ratio:.2f}x")
            print(
                f"{r.target} vs floor at {n}: " + ", ".join(parts) + " (targets: p99 <= 1.5x, "
                f"deliveries/s >= 0.7x); {r.kb_marginal:.1f} KB per idle subscribed connection "
                "(target < 20)"
            )
    if results:
        print(f"event frame: {results[0].frame_bytes} bytes")


def result_dict(r: CaseResult) -> dict[str, Any]:
    def phase(p: Phase) -> dict[str, Any]:
        return {
            "name": p.name,
            "p50_ms": percentile(p.latencies, 50) * 1000,
            "p99_ms": percentile(p.latencies, 99) * 1000,
            "max_ms": max(p.latencies, default=float("nan")) * 1000,
            "events": len(p.latencies),
            "deliveries": p.deliveries,
            "missing": p.missing,
            "deliveries_per_second": p.deliveries_per_second,
            "server_cpu": p.server_cpu,
            "client_cpu": p.client_cpu,
            "publisher_cpu": p.publisher_cpu,
            "machine": p.machine,
            "errors": p.errors,
            "ended": p.ended,
        }

    return {
        "target": r.target,
        "subscribers": r.subscribers,
        "members": r.members,
        "connect_seconds": r.connect_seconds,
        "kb_per_connection": r.kb_per_connection,
        "kb_marginal": r.kb_marginal,
        "phases": [phase(p) for p in r.phases],
        "frame_bytes": r.frame_bytes,
    }


# -- `--server-processes 2`: one process against two, same run ---------------------------------


def child_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under `serve --workers N` (the children of `pid`)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) != pid:
                continue
            if b"resource_tracker" in (entry / "cmdline").read_bytes():
                continue  # multiprocessing's helper, not a worker
            children.append(int(entry.name))
    return children


def open_sockets(pid: int) -> int:
    """Sockets a process holds (its WebSockets, plus a few database and Redis connections)."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd).startswith("socket:")
    return count


@dataclass
class MultiTarget(GraphQLTarget):
    """The same party served by several processes: `pids` are the processes doing the work
    (uvicorn's workers, or the separate servers); publishes alternate between `posters` (one
    per server; one for `--workers`, where the kernel spreads its keep-alive connections)."""

    pids: list[int] = field(default_factory=list)
    posters: list[Poster] = field(default_factory=list)

    async def publish(self, client: Poster, k: int) -> None:
        await GraphQLTarget.publish(self, self.posters[k % len(self.posters)], k)


@dataclass
class ScalingResult:
    stack: str
    label: str
    processes: int
    subscribers: int
    saturation: Phase
    sequences: int  # distinct event sequences among the subscribers (1: same order everywhere)
    live: int

    @property
    def rest_cpu(self) -> float:
        """Cores used by everything else on the machine (other benchmarks, the database...)."""
        p = self.saturation
        return max(0.0, p.machine * 2 - p.server_cpu - p.client_cpu - p.publisher_cpu)


async def start_servers(stack: Stack, kind: str, processes: int, mode: str) -> list[Server]:
    if processes == 1 or mode == "workers":
        server = watchparty_server(stack, f"watchparty ({kind})")
        if processes > 1:
            server.argv += ["--workers", str(processes)]
        await server.start()
        if processes > 1:
            deadline = time.monotonic() + 60
            while len(child_pids(server.pid)) < processes and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)  # every worker past its start-up, not only the first
        return [server]
    servers = [watchparty_server(stack, f"watchparty ({kind}) #{i + 1}") for i in range(processes)]
    for server in servers:
        await server.start()
    return servers


async def run_scaling_case(
    stack: Stack, kind: str, processes: int, n: int, args: argparse.Namespace
) -> ScalingResult:
    mode = args.server_mode if processes > 1 else "one"
    servers = await start_servers(stack, kind, processes, args.server_mode)
    posters = [Poster(server.base_url, size=32) for server in servers]
    swarm = Swarm()
    try:
        pids = [server.pid for server in servers]
        if mode == "workers":
            pids = child_pids(servers[0].pid)
        if kind not in SCALING_PARTIES:
            SCALING_PARTIES[kind] = await setup_party(stack, servers[0], args.members - 1)
        party_id, host, members = SCALING_PARTIES[kind]
        label = {
            "one": "1 process",
            "workers": f"serve --workers {processes}",
            "separate": f"{processes} separate servers",
        }[mode]
        chat = args.events == "chat"
        target = MultiTarget(
            servers[0], party_id, host, members, label, chat, pids=pids, posters=posters
        )
        inits = target.inits(n)
        query = CHAT_SUBSCRIPTION if chat else SUBSCRIPTION
        log(f"{label} ({kind}): {n} subscribers, server pids {pids}")
        for index, server in enumerate(servers):
            # separate servers: subscriber i on server i mod P (half/half for two)
            share = inits[index :: len(servers)]
            await swarm.start(
                server.ws_url, share, query, target.variables(), processes=args.processes
            )
        await quiesce(swarm)
        if swarm.ready < n:
            raise RuntimeError(f"only {swarm.ready} of {n} subscribers connected")
        spread = {pid: open_sockets(pid) for pid in pids}
        log(f"{label}: sockets per server process {spread} (the kernel's spread, for --workers)")
        await run_fixed(target, swarm, posters[0], 5.0, 10, base=1)  # warm-up, not reported
        phase = await run_saturation(
            target, swarm, posters[0], args.saturation_seconds, args.window, base=1000
        )
        report = await swarm.report()
        result = ScalingResult(kind, label, processes, n, phase, len(report.orders), report.live)
        log(
            f"{label} ({kind}) {n}: {phase.summary()}; {result.sequences} distinct event "
            f"sequence(s) over {report.live} subscribers"
        )
        return result
    finally:
        await swarm.close()
        for poster in posters:
            await poster.close()
        for server in servers:
            await server.stop()


SCALING_PARTIES: dict[str, tuple[str, Account, list[Account]]] = {}


async def main_scaling(args: argparse.Namespace) -> list[ScalingResult]:
    """Per stack and size: one process, then `--server-processes` processes (`--server-mode`),
    each with a fresh server and subscribers; saturation deliveries/s and the order check."""
    counts = [int(count) for count in args.server_processes.split(",")]
    kinds = [kind for kind in args.targets.split(",") if kind != "raw"]
    results: list[ScalingResult] = []
    for kind in kinds:
        stack = await Stack.create(kind, RATE_LIMIT_CHAT="1000000/1")
        try:
            for n in [int(size) for size in args.sizes.split(",")]:
                for processes in counts:
                    log(f"load average {os.getloadavg()}")
                    if processes > 1 and kind == "embedded":
                        if args.server_mode == "workers":
                            server = watchparty_server(stack, "embedded --workers")
                            server.argv += ["--workers", str(processes)]
                            with contextlib.suppress(RuntimeError):
                                await server.start(timeout=20)
                            await server.stop()
                            log(f"embedded --workers {processes}: {server.tail().strip()[-300:]}")
                        else:
                            log("separate servers need a shared stack: use --targets postgres")
                        continue
                    results.append(await run_scaling_case(stack, kind, processes, n, args))
        finally:
            await stack.close()
            SCALING_PARTIES.pop(kind, None)
    log(f"load average {os.getloadavg()}")
    return results


def print_scaling(results: list[ScalingResult]) -> None:
    print(
        "| stack | server | subscribers | deliveries/s | per server core | p50 ms | p99 ms "
        "| server CPU "
        "| clients CPU | publisher CPU | rest of machine | missing | errors | event sequences |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p = r.saturation
        print(
            f"| {r.stack} | {r.label} | {r.subscribers} | {p.deliveries_per_second:,.0f} "
            f"| {p.deliveries_per_second / max(p.server_cpu, 1e-9):,.0f} "
            f"| {fmt_ms(percentile(p.latencies, 50))} | {fmt_ms(percentile(p.latencies, 99))} "
            f"| {p.server_cpu:.2f} | {p.client_cpu:.2f} | {p.publisher_cpu:.2f} "
            f"| {r.rest_cpu:.2f} | {p.missing} | {p.errors} "
            f"| {r.sequences}{'' if r.sequences == 1 else ' (ORDER DIFFERS)'} |"
        )
    print(
        "(saturation phase; CPU in cores of the machine's 2; 'per server core': deliveries/s "
        "divided by the server processes' CPU, which shows whether a second process would scale "
        "given a free core)"
    )
    by_case: dict[tuple[str, int], list[ScalingResult]] = {}
    for r in results:
        by_case.setdefault((r.stack, r.subscribers), []).append(r)
    for (stack, n), cases in by_case.items():
        one = next((r for r in cases if r.processes == 1), None)
        for r in cases:
            if one is None or r is one:
                continue
            ratio = r.saturation.deliveries_per_second / max(
                one.saturation.deliveries_per_second, 1
            )
            print(
                f"{stack}: {r.label} vs 1 process at {n}: {ratio:.2f}x saturation deliveries/s "
                "(target >= 1.6x)"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="embedded,raw", help="embedded, postgres, raw")
    parser.add_argument("--sizes", default="200,1000", help="subscribers per party")
    parser.add_argument("--members", type=int, default=100, help="distinct members (accounts)")
    parser.add_argument("--rates", default="", help="fixed rates (events/s): fast,slow")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a fixed phase")
    parser.add_argument("--min-events", type=int, default=20)
    parser.add_argument("--saturation-seconds", type=float, default=6.0)
    parser.add_argument("--window", type=int, default=8, help="events in flight at saturation")
    parser.add_argument("--processes", type=int, default=2, help="client processes per batch")
    parser.add_argument(
        "--events",
        choices=("party", "chat", "seek"),
        default="party",
        help="party: updateParty -> PartyUpdated; chat: sendMessage -> ChatMessageAdded; "
        "seek: seek -> PlaybackChanged",
    )
    parser.add_argument(
        "--minimal",
        action="store_true",
        help="subscribe with the older minimal selection (only the event's own fragment) "
        "instead of a frontend's (README 'Following a party')",
    )
    parser.add_argument(
        "--server-processes",
        default="",
        help="e.g. 1,2: saturation with one server process against two (see --server-mode)",
    )
    parser.add_argument(
        "--server-mode",
        choices=("workers", "separate"),
        default="workers",
        help="workers: `serve --workers N` on one port; separate: N servers on N ports sharing "
        "PostgreSQL and Redis, subscribers split evenly",
    )
    parser.add_argument("--memory-only", action="store_true", help="stop after the memory phase")
    parser.add_argument(
        "--gc-stats", action="store_true", help="log the server's collector pauses per size"
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        default=None,
        help="dir: trace the server's allocations, print what a connection holds (memory only)",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    stop_on_sigterm()
    arguments = parse_args()
    if arguments.server_processes:
        print_scaling(asyncio.run(main_scaling(arguments)))
    else:
        print_results(asyncio.run(main(arguments)), arguments.json)
