"""A realistic mix: many small parties at once on one server process; the capacity figure.

    .venv/bin/python bench/mix.py --ramp                      # embedded, 50..500 parties of 4
    .venv/bin/python bench/mix.py --target postgres --parties 200 --seconds 60

Every member of every party keeps one graphql-transport-ws connection subscribed to its party's
`partyEvents` with the README's selection ("Following a party") and, over the same socket, with
random phase offsets: `reportPlayerState` every 10 s, `serverTime` every 60 s, `sendMessage`
every 30 s, a burst of `sendReaction`s when its party bursts (every 60 s, all members within
about a second), and the host a playback control every 20 s (play, seek, pause in turn). The
members run in `--processes` client processes (`mixclient.py`, bare asyncio sockets).

Measured per step: control-to-last-member latency (the host's control request leaving to the
party's last member receiving its `PlaybackChanged`) p50/p99/max, controls whose event did not
reach every member, each operation's round trip p50/p99 and errors, server CPU (of one core),
the clients' CPU, the whole machine's use and the server's RSS. `--ramp` steps the party count
up (`--steps`) on one server and reports the largest step whose control p99 stays under
`--p99-ms` (100) with nothing missing: the members one process carries, the capacity figure.

Accounts are written straight to the database (`seed_accounts`: Argon2 through the API would
take minutes); the parties are created and joined through the API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from common import (
    BENCH_DIR,
    CREATE_PARTY,
    JOIN_PARTY,
    CpuMeter,
    Poster,
    Stack,
    fmt_ms,
    log,
    percentile,
    rss_kb,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)

# The README's selection ("Following a party").
SUBSCRIPTION = """
subscription($id: ID!, $after: String) {
  partyEvents(partyId: $id, after: $after) {
    cursor occurredAt resync
    event { __typename ... on PartySnapshot { party { id playback { revision } } }
      ... on PlaybackChanged { playback { state positionSeconds anchorServerTimeMs rate revision
        previous { state positionSeconds anchorServerTimeMs rate } } } }
  }
}
"""


@dataclass
class PartySeed:
    party_id: str
    tokens: list[str]  # the host's first


@dataclass
class Step:
    parties: int
    members: int
    seconds: float
    connect_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    controls: int = 0
    incomplete: int = 0  # controls whose event did not reach every member of the party
    noops: int = 0  # controls that changed nothing (play while playing): no event to time
    ops: dict[str, list[Any]] = field(default_factory=dict)  # kind -> [count, errors, latencies]
    frames: int = 0
    ended: int = 0
    failed: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine: float = 0.0
    rss_idle_kb: int = 0
    rss_kb: int = 0
    load: float = 0.0
    first_error: str = ""

    @property
    def operations(self) -> int:
        return sum(int(entry[0]) for entry in self.ops.values())

    def cpu_ms_per_operation(self) -> float:
        """Server CPU per member operation (deliveries included): what sizing scales with."""
        return self.server_cpu * self.seconds * 1000 / max(self.operations, 1)

    @property
    def errors(self) -> int:
        return sum(int(entry[1]) for entry in self.ops.values())

    def p99(self) -> float:
        return percentile(self.latencies, 99)

    def summary(self) -> str:
        return (
            f"{self.parties} parties, {self.members} members: control-to-last-member p50 "
            f"{fmt_ms(percentile(self.latencies, 50))} ms, p99 {fmt_ms(self.p99())} ms, max "
            f"{fmt_ms(max(self.latencies, default=float('nan')))} ms over {len(self.latencies)} "
            f"controls ({self.incomplete} incomplete), {self.errors} errors, {self.ended} ended, "
            f"{self.operations / self.seconds:.0f} operations/s, server CPU {self.server_cpu:.0%} "
            f"({self.cpu_ms_per_operation():.1f} ms per operation), clients CPU "
            f"{self.client_cpu:.0%}, machine "
            f"{self.machine:.0%} of 2 cores, server RSS {self.rss_kb / 1024:.0f} MiB, load "
            f"{self.load:.2f}"
        )


async def seed_parties(stack: Stack, poster: Poster, parties: int, size: int) -> list[PartySeed]:
    log(f"seeding {parties * size} accounts")
    accounts = await seed_accounts(stack, parties * size, tag="mix")
    log(f"creating {parties} parties and joining {parties * (size - 1)} members")
    gate = asyncio.Semaphore(8)
    seeds: list[PartySeed] = []

    async def one(index: int) -> None:
        group = accounts[index * size : (index + 1) * size]
        host = group[0]
        async with gate:
            data = await poster.gql(
                CREATE_PARTY,
                {
                    "input": {
                        "title": f"mix party {index}",
                        "visibility": "PUBLIC",
                        "maxMembers": max(size, 2),
                        # a play is not held back by members' buffering reports
                        "waitForBuffering": False,
                        "media": {"url": "https://example.com/mix.mp4"},
                    }
                },
                host.token,
            )
        created = data["createParty"]
        if "party" not in created:
            raise RuntimeError(f"createParty failed: {created}")
        party_id = created["party"]["id"]
        for member in group[1:]:
            async with gate:
                joined = await poster.gql(
                    JOIN_PARTY, {"input": {"partyId": party_id}}, member.token
                )
            if "code" in joined["joinParty"]:
                raise RuntimeError(f"joinParty failed: {joined['joinParty']}")
        seeds.append(PartySeed(party_id, [account.token for account in group]))

    await asyncio.gather(*(one(index) for index in range(parties)))
    return seeds


def schedule(args: argparse.Namespace) -> dict[str, float]:
    return {
        "state": args.state_period,
        "server_time": args.server_time_period,
        "chat": args.chat_period,
        "control": args.control_period,
        "burst": args.burst_period,
        "burst_size": args.burst_size,
    }


async def run_step(
    url: str, server_pid: int, seeds: list[PartySeed], args: argparse.Namespace
) -> Step:
    from watchparty.kit.emoji import ALLOWED_EMOJI

    step = Step(len(seeds), sum(len(seed.tokens) for seed in seeds), args.seconds)
    step.load = os.getloadavg()[0]
    chunks: list[list[dict[str, Any]]] = [[] for _ in range(args.processes)]
    for index, seed in enumerate(seeds):
        for position, token in enumerate(seed.tokens):
            spec = {"token": token, "party": index, "partyId": seed.party_id, "host": position == 0}
            chunks[index % args.processes].append(spec)
    processes = []
    started = time.monotonic()
    try:
        for number, chunk in enumerate(chunks):
            if not chunk:
                continue
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH_DIR / "mixclient.py"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=256 * 1024 * 1024,
            )
            config = {
                "url": url,
                "query": SUBSCRIPTION,
                "members": chunk,
                "schedule": schedule(args),
                "emoji": list(ALLOWED_EMOJI[:6]),
                "seed": args.seed + number,
                "concurrency": 25,
            }
            assert process.stdin is not None
            process.stdin.write(json.dumps(config).encode() + b"\n")
            await process.stdin.drain()
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 600))
            step.failed += int(ready["failed"])
        step.connect_seconds = time.monotonic() - started
        await asyncio.sleep(2.0)  # presence of the last arrivals settles
        step.rss_idle_kb = rss_kb(server_pid)
        log(
            f"{step.members} members connected in {step.connect_seconds:.1f}s "
            f"({step.failed} failed), server {step.rss_idle_kb / 1024:.0f} MiB; running "
            f"{args.seconds:g}s"
        )
        meter = CpuMeter([server_pid, *(process.pid for process in processes)])
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"start {args.seconds}\n".encode())
            await process.stdin.drain()
        reports = []
        for process in processes:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), args.seconds + 120)
            reports.append(json.loads(line)["report"])
        cpu = meter.read()
        step.machine = meter.machine()
        step.server_cpu = cpu.pop(server_pid)
        step.client_cpu = sum(cpu.values())
        step.rss_kb = rss_kb(server_pid)
    finally:
        for process in processes:
            if process.returncode is None and process.stdin is not None:
                try:
                    process.stdin.write(b"quit\n")
                    await process.stdin.drain()
                    await asyncio.wait_for(process.wait(), 10)
                except (TimeoutError, ConnectionError):
                    process.kill()
                    await process.wait()
    merge(step, reports, {index: len(seed.tokens) for index, seed in enumerate(seeds)})
    return step


def merge(step: Step, reports: list[dict[str, Any]], sizes: dict[int, int]) -> None:
    arrivals: dict[str, list[float]] = {}
    controls: dict[str, float] = {}
    for report in reports:
        controls.update(report["controls"])
        for key, (count, last) in report["arrivals"].items():
            entry = arrivals.setdefault(key, [0, 0.0])
            entry[0] += count
            entry[1] = max(entry[1], last)
        for kind, (count, errors, latencies) in report["ops"].items():
            entry = step.ops.setdefault(kind, [0, 0, []])
            entry[0] += count
            entry[1] += errors
            entry[2].extend(latencies)
        step.frames += report["frames"]
        step.ended += report["ended"]
        step.noops += report["noops"]
        step.first_error = step.first_error or report["first_error"]
    for key, sent in controls.items():
        step.controls += 1
        party = int(key.split(":")[0])
        count, last = arrivals.get(key, [0, 0.0])
        if count < sizes[party]:
            step.incomplete += 1
            continue
        step.latencies.append(last - sent)


async def main(args: argparse.Namespace) -> list[Step]:
    steps = [int(s) for s in args.steps.split(",")] if args.ramp else [args.parties]
    stack = await Stack.create(args.target)
    server = watchparty_server(stack, f"watchparty ({args.target})")
    results: list[Step] = []
    try:
        await server.start()
        poster = Poster(server.base_url, size=16)
        try:
            seeds = await seed_parties(stack, poster, max(steps), args.members_per_party)
        finally:
            await poster.close()
        for parties in steps:
            log(f"load average {os.getloadavg()}")
            step = await run_step(server.ws_url, server.pid, seeds[:parties], args)
            log(step.summary())
            if step.first_error:
                log(f"first error: {step.first_error}")
            results.append(step)
            if args.ramp and percentile(step.latencies, 50) > args.p99_ms / 1000:
                log("even the median is past the limit: stopping the ramp")
                break
    except Exception:
        log(server.tail())
        raise
    finally:
        await server.stop()
        await stack.close()
    log(f"load average {os.getloadavg()}")
    return results


def print_results(steps: list[Step], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([step_dict(step) for step in steps], indent=2))
        return
    print(
        f"stack: {args.target}; {args.members_per_party} members per party; "
        f"{args.seconds:g}s a step"
    )
    print(
        "| parties | members | control p50 ms | p99 ms | max ms | controls (incomplete) | errors "
        "| ended | operations/s | server CPU | CPU ms/op | clients CPU | machine | server RSS MiB "
        "| load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in steps:
        print(
            f"| {s.parties} | {s.members} | {fmt_ms(percentile(s.latencies, 50))} "
            f"| {fmt_ms(s.p99())} | {fmt_ms(max(s.latencies, default=float('nan')))} "
            f"| {s.controls} ({s.incomplete}) | {s.errors} | {s.ended} "
            f"| {s.operations / s.seconds:.0f} | {s.server_cpu:.0%} "
            f"| {s.cpu_ms_per_operation():.1f} "
            f"| {s.client_cpu:.0%} | {s.machine:.0%} | {s.rss_kb / 1024:.0f} | {s.load:.2f} |"
        )
    print()
    print("| parties | operation | count | errors | round trip p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for s in steps:
        for kind, (count, errors, latencies) in sorted(s.ops.items()):
            print(
                f"| {s.parties} | {kind} | {count} | {errors} "
                f"| {fmt_ms(percentile(latencies, 50))} | {fmt_ms(percentile(latencies, 99))} |"
            )
    limit = args.p99_ms / 1000
    good = [s for s in steps if s.p99() < limit and s.incomplete == 0 and s.ended == 0]
    if args.ramp:
        if good:
            best = max(good, key=lambda s: s.members)
            print(
                f"\ncapacity: {best.members} concurrent members ({best.parties} parties of "
                f"{args.members_per_party}) with control-to-last-member p99 "
                f"{fmt_ms(best.p99())} ms < {args.p99_ms:g} ms ({args.target}, "
                f"load {best.load:.2f})"
            )
        else:
            print(f"\ncapacity: no step kept control p99 under {args.p99_ms:g} ms")


def step_dict(s: Step) -> dict[str, Any]:
    return {
        "parties": s.parties,
        "members": s.members,
        "seconds": s.seconds,
        "connect_seconds": s.connect_seconds,
        "control_p50_ms": percentile(s.latencies, 50) * 1000,
        "control_p99_ms": s.p99() * 1000,
        "controls": s.controls,
        "incomplete": s.incomplete,
        "noops": s.noops,
        "errors": s.errors,
        "ended": s.ended,
        "failed": s.failed,
        "frames": s.frames,
        "server_cpu": s.server_cpu,
        "operations": s.operations,
        "cpu_ms_per_operation": s.cpu_ms_per_operation(),
        "client_cpu": s.client_cpu,
        "machine": s.machine,
        "rss_idle_kb": s.rss_idle_kb,
        "rss_kb": s.rss_kb,
        "load": s.load,
        "ops": {
            kind: {
                "count": count,
                "errors": errors,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
            }
            for kind, (count, errors, latencies) in s.ops.items()
        },
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("embedded", "postgres"), default="embedded")
    parser.add_argument("--parties", type=int, default=500)
    parser.add_argument("--members-per-party", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of a step")
    parser.add_argument("--ramp", action="store_true", help="step the party count up (--steps)")
    parser.add_argument("--steps", default="50,100,200,300,500")
    parser.add_argument("--p99-ms", type=float, default=100.0, help="the capacity criterion")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--state-period", type=float, default=10.0)
    parser.add_argument("--server-time-period", type=float, default=60.0)
    parser.add_argument("--chat-period", type=float, default=30.0)
    parser.add_argument("--control-period", type=float, default=20.0)
    parser.add_argument("--burst-period", type=float, default=60.0)
    parser.add_argument("--burst-size", type=float, default=3, help="reactions per member")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    stop_on_sigterm()
    arguments = parse_args()
    print_results(asyncio.run(main(arguments)), arguments)
