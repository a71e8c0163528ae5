"""Sync: how closely 100 simulated clients agree on the playhead (the benchmark in SYNC.md).

    .venv/bin/python bench/sync.py                      # embedded stack, 100 clients
    .venv/bin/python bench/sync.py --stack postgres --clients 100 --seed 7
    .venv/bin/python bench/sync.py --server-gc default   # without `watchparty serve`'s GC tuning

One `watchparty serve` process; in this process, `--clients` members, each on its own
graphql-transport-ws connection (the `websockets` package) behind a simulated network path:

- a clock offset drawn from +-`--offset-ms` (the client's clock reads true time + offset);
- a base one-way delay drawn from `--delay-min`..`--delay-max` ms (the same both ways, like one
  path; `--asymmetry` makes the directions differ by up to that fraction), plus per-message
  jitter drawn from 0..`--jitter` x base. Every message waits in a per-direction queue until
  its delivery time, which never precedes the previous message's (a TCP stream keeps order).

Each client does what the reference client does (SYNC.md): 8 `serverTime(clientTimeMs)` samples
over the same socket, keeps the one with the lowest delay (offset = ((t1 - t0) + (t2 - t3)) / 2,
delay = (t3 - t0) - (t2 - t1)), reports that round trip with `reportPlayerState(rttMs)` (the
server sizes its start lead from it), then follows `partyEvents`. The host (plain HTTP, no
injected delay) plays, seeks, changes the rate and pauses.

Afterwards, at shared instants every `--step-ms`, each client's belief is computed from what it
had received by then and its own clock: playhead = position + (local clock + estimated offset -
anchor) x rate, or from the replaced segment (`previous`) before the anchor. Printed: p50/p99 of
the disagreement between clients (all pairs, and the spread max - min per instant), once every
client has the current revision ("steady") and over all instants from each change's anchor on
(transitions included: a client the change has not reached yet still follows the old segment);
each client's clock error against the bound +-delay/2 of its best sample; and per control, the
time from the mutation to the last client's event against the lead time (every change made
while playing is anchored `lead` ahead, so "clients late" counts those it reached after it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import httpx
from common import (
    CREATE_PARTY,
    JOIN_PARTY,
    Account,
    Stack,
    gc_summary,
    gql,
    log,
    percentile,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)

PLAYBACK_FIELDS = (
    "state positionSeconds anchorServerTimeMs rate revision"
    " previous { state positionSeconds anchorServerTimeMs rate }"
)
SUBSCRIPTION = f"""
subscription Sync($partyId: ID!) {{
  partyEvents(partyId: $partyId) {{
    cursor
    event {{
      __typename
      ... on PartySnapshot {{ party {{ playback {{ {PLAYBACK_FIELDS} }} }} }}
      ... on PlaybackChanged {{ playback {{ {PLAYBACK_FIELDS} }} }}
    }}
  }}
}}
"""
SERVER_TIME = """
query Clock($t: Float!) {
  serverTime(clientTimeMs: $t) { clientTimeMs serverReceivedMs serverSentMs }
}
"""
REPORT = """
mutation Report($input: ReportPlayerStateInput!) {
  reportPlayerState(input: $input) { __typename ... on UserError { code message } }
}
"""
CONTROL = """
mutation Control($input: {input_type}!) {{
  {name}(input: $input) {{
    __typename
    ... on PlaybackPayload {{ playback {{ {fields} }} }}
    ... on UserError {{ code message }}
  }}
}}
"""

# (mutation, input type, extra input, seconds to wait afterwards)
CONTROLS: list[tuple[str, str, dict[str, Any], float]] = [
    ("play", "PlaybackControlInput", {}, 3.0),
    ("seek", "SeekInput", {"positionSeconds": 600.0}, 2.5),
    ("setPlaybackRate", "SetPlaybackRateInput", {"rate": 1.5}, 2.5),
    ("pause", "PlaybackControlInput", {}, 1.5),
    ("play", "PlaybackControlInput", {}, 2.5),
    ("seek", "SeekInput", {"positionSeconds": 60.0}, 2.5),
    ("setPlaybackRate", "SetPlaybackRateInput", {"rate": 1.0}, 2.0),
]


def now_ms() -> float:
    """True time (the machine's clock, which the server's clock is too)."""
    return time.time() * 1000.0


@dataclass(frozen=True)
class Timeline:
    state: str
    position: float  # seconds
    anchor: float  # server epoch ms
    rate: float
    revision: int
    previous: Timeline | None = None  # the segment describing the playhead before `anchor`

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Timeline:
        previous = payload.get("previous")
        return cls(
            payload["state"],
            float(payload["positionSeconds"]),
            float(payload["anchorServerTimeMs"]),
            float(payload["rate"]),
            int(payload.get("revision", 0)),
            None if previous is None else Timeline.from_payload(previous),
        )

    def at(self, server_ms: float) -> float:
        """The playhead (seconds) at server time `server_ms` (SYNC.md): before the anchor the
        replaced segment (`previous`) still describes it."""
        if server_ms < self.anchor and self.previous is not None:
            return self.previous.at(server_ms)
        if self.state != "PLAYING" or server_ms < self.anchor:
            return self.position
        return self.position + (server_ms - self.anchor) * self.rate / 1000.0


@dataclass
class Sample:
    offset: float  # server - client, ms
    delay: float  # round trip minus the server's own time, ms
    injected: float = 0.0  # (injected up - injected down) / 2: the error the path alone explains
    client: float = 0.0  # (late up - late down) / 2: what this process's own lag explains


class Link:
    """A WebSocket behind a simulated path: per-direction delays with jitter, order kept."""

    def __init__(self, connection: Any, client: SimClient) -> None:
        self.connection = connection
        self.client = client
        self.loop = asyncio.get_running_loop()
        self.outgoing: asyncio.Queue[tuple[float, str, str]] = asyncio.Queue()
        self.incoming: asyncio.Queue[tuple[float, float, str]] = asyncio.Queue()
        self.last_received_delay = 0.0  # injected into the message `receive` returned last
        self.last_received_late = 0.0  # how late (ms) this process handed it over
        self.sent_late: dict[str, float] = {}  # operation id -> how late (ms) it was sent
        self.last_up = 0.0
        self.last_down = 0.0
        self.tasks = [
            asyncio.create_task(self._uplink()),
            asyncio.create_task(self._downlink()),
        ]

    def send(self, message: dict[str, Any]) -> float:
        """Queue `message`; returns the delay injected (ms), ordering wait included."""
        now = self.loop.time()
        due = max(now + self.client.delay(up=True) / 1000.0, self.last_up)
        self.last_up = due
        self.outgoing.put_nowait((due, json.dumps(message), str(message.get("id", ""))))
        return (due - now) * 1000.0

    async def receive(self) -> dict[str, Any]:
        due, injected, raw = await self.incoming.get()
        await asyncio.sleep(max(0.0, due - self.loop.time()))
        self.last_received_delay = injected
        self.last_received_late = (self.loop.time() - due) * 1000.0
        message: dict[str, Any] = json.loads(raw)
        return message

    async def _uplink(self) -> None:
        while True:
            due, text, op = await self.outgoing.get()
            await asyncio.sleep(max(0.0, due - self.loop.time()))
            late = (self.loop.time() - due) * 1000.0
            await self.connection.send(text)
            if op:
                self.sent_late[op] = late

    async def _downlink(self) -> None:
        async for raw in self.connection:
            now = self.client.last_message = self.loop.time()
            due = max(now + self.client.delay(up=False) / 1000.0, self.last_down)
            self.last_down = due
            self.incoming.put_nowait((due, (due - now) * 1000.0, raw))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class SimClient:
    index: int
    account: Account
    offset: float  # its clock minus true time, ms
    base_up: float  # one-way delay, ms
    base_down: float
    jitter: float  # fraction of the base
    rng: random.Random
    samples: list[Sample] = field(default_factory=list)
    received: list[tuple[float, Timeline]] = field(default_factory=list)  # (true ms, timeline)
    estimate: Sample | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    start_sampling: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_message: float = 0.0  # loop time of the last message off the wire
    injected_up: dict[str, float] = field(default_factory=dict)  # sample id -> ms
    error: str | None = None

    def local_ms(self) -> float:
        return now_ms() + self.offset

    def delay(self, *, up: bool) -> float:
        base = self.base_up if up else self.base_down
        return base + self.rng.uniform(0.0, self.jitter * base)

    @property
    def true_offset(self) -> float:
        """server - client: what the estimate tries to find."""
        return -self.offset

    def believed(self, true_ms: float, times: list[float]) -> float | None:
        """Where this client believes the playhead is at the true instant `true_ms`."""
        if self.estimate is None:
            return None
        index = bisect_right(times, true_ms) - 1
        if index < 0:
            return None
        timeline = self.received[index][1]
        server_ms = true_ms + self.offset + self.estimate.offset
        return timeline.at(server_ms)

    async def run(self, url: str, party_id: str, args: argparse.Namespace) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        async with connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")], proxy=None, open_timeout=30
        ) as connection:
            link = Link(connection, self)
            try:
                await self._session(link, party_id, args)
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                self.subscribed.set()
                self.ready.set()
                raise
            finally:
                await link.close()

    async def _session(self, link: Link, party_id: str, args: argparse.Namespace) -> None:
        link.send(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {self.account.token}"},
            }
        )
        ack = await link.receive()
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"not acknowledged: {ack}")
        link.send(
            {
                "id": "events",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"partyId": party_id}},
            }
        )
        pending: dict[str, float] = {}  # operation id -> t0 (local clock)
        sampler = asyncio.create_task(self._sample(link, pending, party_id, args))
        try:
            while True:
                message = await link.receive()
                kind, op = message.get("type"), message.get("id")
                if kind == "ping":
                    link.send({"type": "pong"})
                elif kind == "next" and op == "events":
                    self._on_event(message["payload"])
                elif kind == "next" and op in pending:
                    t3 = self.local_ms()
                    data = message["payload"]["data"]
                    if "serverTime" in data:
                        clock = data["serverTime"]
                        t0, t1, t2 = (
                            pending.pop(op),
                            clock["serverReceivedMs"],
                            clock["serverSentMs"],
                        )
                        injected = (self.injected_up.pop(op) - link.last_received_delay) / 2
                        lag = (link.sent_late.pop(op, 0.0) - link.last_received_late) / 2
                        self.samples.append(
                            Sample(
                                ((t1 - t0) + (t2 - t3)) / 2, (t3 - t0) - (t2 - t1), injected, lag
                            )
                        )
                    else:
                        pending.pop(op)
                        result = data["reportPlayerState"]
                        if "code" in result:
                            raise RuntimeError(f"reportPlayerState: {result}")
                        self.ready.set()
                elif kind == "error":
                    raise RuntimeError(f"operation {op} failed: {message}")
                elif kind == "complete" and op == "events":
                    raise RuntimeError("the party stream completed")
        finally:
            sampler.cancel()

    def _on_event(self, payload: dict[str, Any]) -> None:
        if payload.get("errors"):
            raise RuntimeError(f"stream error: {payload['errors']}")
        event = payload["data"]["partyEvents"]["event"]
        if event["__typename"] == "PartySnapshot":
            playback = event["party"]["playback"]
        elif event["__typename"] == "PlaybackChanged":
            playback = event["playback"]
        else:
            return
        timeline = Timeline.from_payload(playback)
        if self.received and timeline.revision <= self.received[-1][1].revision:
            return  # older or the same: never move backwards
        self.received.append((now_ms(), timeline))
        self.subscribed.set()

    async def _sample(
        self, link: Link, pending: dict[str, float], party_id: str, args: argparse.Namespace
    ) -> None:
        await self.start_sampling.wait()
        await asyncio.sleep(self.rng.uniform(0, args.sample_interval))
        for number in range(args.samples):
            op = f"t{number}"
            t0 = self.local_ms()
            pending[op] = t0
            self.injected_up[op] = link.send(
                {
                    "id": op,
                    "type": "subscribe",
                    "payload": {"query": SERVER_TIME, "variables": {"t": t0}},
                }
            )
            await asyncio.sleep(args.sample_interval)
        deadline = time.monotonic() + 10
        while len(self.samples) < args.samples and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.estimate = min(self.samples, key=lambda sample: sample.delay)
        pending["report"] = self.local_ms()
        link.send(
            {
                "id": "report",
                "type": "subscribe",
                "payload": {
                    "query": REPORT,
                    "variables": {
                        "input": {
                            "partyId": party_id,
                            "state": "PAUSED",
                            "positionSeconds": 0.0,
                            "clientTimeMs": self.local_ms(),
                            "rttMs": max(self.estimate.delay, 0.0),
                        }
                    },
                },
            }
        )


@dataclass
class Control:
    name: str
    sent: float  # true ms
    answered: float
    timeline: Timeline


async def setup(stack: Stack, base_url: str, clients: int) -> tuple[str, Account, list[Account]]:
    accounts = await seed_accounts(stack, clients + 1, tag="sync")
    host, members = accounts[0], accounts[1:]
    async with httpx.AsyncClient() as client:
        data = await gql(
            client,
            base_url,
            CREATE_PARTY,
            {
                "input": {
                    "title": "sync benchmark",
                    "visibility": "PUBLIC",
                    "maxMembers": clients + 1,
                    "waitForBuffering": False,
                    "media": {
                        "url": "https://example.com/sync.mp4",
                        "title": "sync",
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
        gate = asyncio.Semaphore(8)

        async def join(account: Account) -> None:
            async with gate:
                result = await gql(
                    client, base_url, JOIN_PARTY, {"input": {"partyId": party_id}}, account.token
                )
                if "code" in result["joinParty"]:
                    raise RuntimeError(f"joinParty failed: {result['joinParty']}")

        await asyncio.gather(*(join(account) for account in members))
    return party_id, host, members


async def control(
    client: httpx.AsyncClient, base_url: str, host: Account, party_id: str, step: tuple[Any, ...]
) -> Control:
    name, input_type, extra, _ = step
    query = CONTROL.format(name=name, input_type=input_type, fields=PLAYBACK_FIELDS)
    sent = now_ms()
    data = await gql(client, base_url, query, {"input": {"partyId": party_id, **extra}}, host.token)
    answered = now_ms()
    result = data[name]
    if "playback" not in result:
        raise RuntimeError(f"{name} failed: {result}")
    return Control(name, sent, answered, Timeline.from_payload(result["playback"]))


def analyse(
    clients: list[SimClient], controls: list[Control], end: float, args: argparse.Namespace
) -> dict[str, Any]:
    times = {c.index: [t for t, _ in c.received] for c in clients}
    revision_arrival: dict[int, list[float]] = {}
    for c in clients:
        for t, timeline in c.received:
            revision_arrival.setdefault(timeline.revision, []).append(t)

    # Instants from the first control to the end: "steady" once every client holds the newest
    # revision; "from the anchor on" once the newest change takes effect (whoever has it).
    instants = []
    t = controls[0].sent
    while t < end:
        instants.append(t)
        t += args.step_ms
    pairwise_all: list[float] = []
    pairwise_steady: list[float] = []
    spread_all: list[float] = []
    spread_steady: list[float] = []
    truth_errors: list[float] = []
    for instant in instants:
        # The newest control issued by now; steady once every client holds its revision.
        current = max((c for c in controls if c.sent <= instant), key=lambda c: c.sent)
        beliefs = []
        held = set()
        for c in clients:
            index = bisect_right(times[c.index], instant) - 1
            if index >= 0:
                held.add(c.received[index][1].revision)
            value = c.believed(instant, times[c.index])
            if value is not None:
                beliefs.append(value * 1000.0)  # ms of media
        if len(beliefs) < 2:
            continue
        steady = len(beliefs) == len(clients) and held == {current.timeline.revision}
        beliefs.sort()
        spread = beliefs[-1] - beliefs[0]
        pairs = [
            abs(beliefs[j] - beliefs[i])
            for i in range(0, len(beliefs), args.pair_stride)
            for j in range(i + 1, len(beliefs))
        ]
        if instant >= max(current.sent, current.timeline.anchor):
            # From the instant the change takes effect: includes clients it has not reached yet.
            spread_all.append(spread)
            pairwise_all.extend(pairs)
        if steady:
            spread_steady.append(spread)
            pairwise_steady.extend(pairs)
            truth = current.timeline.at(instant) * 1000.0
            truth_errors.extend(abs(b - truth) for b in beliefs)

    clock_errors = []
    path_errors = []  # what the injected path asymmetry alone explains
    client_errors = []  # what the client process's own lag explains
    stack_errors = []  # the rest: the server (parse, validate, execute, queueing)
    signed_stack: list[float] = []
    ratios = []
    best_delays = []
    for c in clients:
        assert c.estimate is not None
        signed = c.estimate.offset - c.true_offset
        path_errors.append(abs(c.estimate.injected))
        client_errors.append(abs(c.estimate.client))
        signed_stack.append(signed - c.estimate.injected - c.estimate.client)
        stack_errors.append(abs(signed_stack[-1]))
        error = abs(signed)
        bound = max(c.estimate.delay, 0.0) / 2
        clock_errors.append(error)
        best_delays.append(c.estimate.delay)
        ratios.append(error / bound if bound > 0 else float("inf"))
    # What the injected path alone would make two clients disagree by (at rate 1), were the
    # server and this process perfect: the floor no server change can go below.
    injected = [c.estimate.injected for c in clients if c.estimate is not None]
    path_floor = [
        abs(injected[j] - injected[i])
        for i in range(0, len(injected), args.pair_stride)
        for j in range(i + 1, len(injected))
    ]

    deliveries = []
    for ctl in controls:
        arrivals = revision_arrival.get(ctl.timeline.revision, [])
        last = max(arrivals) if arrivals else float("nan")
        # Only changes anchored in the future can be "late" (a change made while paused takes
        # effect at the commit and reaches each client after its delay by design).
        future = ctl.timeline.anchor > ctl.answered
        lead = ctl.timeline.anchor - ctl.sent if future else float("nan")
        late = sum(1 for a in arrivals if a > ctl.timeline.anchor) if future else None
        deliveries.append(
            {
                "control": ctl.name,
                "revision": ctl.timeline.revision,
                "state": ctl.timeline.state,
                "mutation_ms": ctl.answered - ctl.sent,
                "to_last_client_ms": last - ctl.sent,
                "to_first_client_ms": (min(arrivals) - ctl.sent) if arrivals else float("nan"),
                "clients": len(arrivals),
                "lead_ms": lead,
                "late_clients": late,
            }
        )
    return {
        "clients": len(clients),
        "instants": len(instants),
        "best_delay_ms": summary(best_delays),
        "clock_error_ms": summary(clock_errors),
        "clock_error_path_ms": summary(path_errors),
        "clock_error_client_ms": summary(client_errors),
        "clock_error_stack_ms": summary(stack_errors),
        "server_asymmetry_mean_ms": sum(signed_stack) / len(signed_stack),
        "error_to_bound": summary(ratios),
        "pairwise_path_floor_ms": summary(path_floor),
        "within_bound": sum(1 for r in ratios if r <= 1.0),
        "pairwise_steady_ms": summary(pairwise_steady),
        "spread_steady_ms": summary(spread_steady),
        "pairwise_all_ms": summary(pairwise_all),
        "spread_all_ms": summary(spread_all),
        "error_vs_server_ms": summary(truth_errors),
        "controls": deliveries,
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values, default=float("nan")),
        "n": float(len(values)),
    }


def print_report(result: dict[str, Any], args: argparse.Namespace) -> None:
    def line(name: str, key: str) -> None:
        s = result[key]
        print(f"| {name} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} |")

    print(
        f"{result['clients']} clients, clock offsets +-{args.offset_ms:g} ms, one-way delay "
        f"{args.delay_min:g}-{args.delay_max:g} ms + jitter up to {args.jitter:.0%} of it"
        + (f", asymmetry up to {args.asymmetry:.0%}" if args.asymmetry else "")
        + f", {args.samples} samples each, server GC {args.server_gc}"
    )
    print()
    print("| measure (ms unless noted) | p50 | p99 | max |")
    print("|---|---|---|---|")
    line("playhead disagreement, all pairs (steady)", "pairwise_steady_ms")
    line("playhead spread max-min per instant (steady)", "spread_steady_ms")
    line("playhead error vs the server's timeline (steady)", "error_vs_server_ms")
    line("playhead disagreement, all pairs (from each anchor on)", "pairwise_all_ms")
    line("playhead spread per instant (from each anchor on)", "spread_all_ms")
    line("best sample's delay (round trip)", "best_delay_ms")
    line("clock offset error", "clock_error_ms")
    line("  of which the injected path's asymmetry", "clock_error_path_ms")
    line("  of which the client process's own lag", "clock_error_client_ms")
    line("  of which the server (the rest)", "clock_error_stack_ms")
    line("clock error / bound (delay/2), ratio", "error_to_bound")
    line("clock error difference the injected path alone explains, pairs", "pairwise_path_floor_ms")
    print()
    print(f"clients within their bound: {result['within_bound']}/{result['clients']}")
    print(
        f"server asymmetry, mean: {result['server_asymmetry_mean_ms']:+.2f} ms (positive: the "
        "server spends longer before taking serverReceivedMs than after serverSentMs)"
    )
    print()
    print(
        "| control | state | mutation ms | to first client | to last client | lead (anchor - "
        "mutation sent) | clients late |"
    )
    print("|---|---|---|---|---|---|---|")
    for d in result["controls"]:
        future = d["late_clients"] is not None
        lead = f"{d['lead_ms']:.0f}" if future else "at once"
        late = d["late_clients"] if future else "-"
        print(
            f"| {d['control']} (r{d['revision']}) | {d['state']} | {d['mutation_ms']:.0f} "
            f"| {d['to_first_client_ms']:.0f} | {d['to_last_client_ms']:.0f} | {lead} "
            f"| {late} |"
        )
    server_gc = result.get("server_gc")
    if server_gc:
        print()
        print(
            f"server GC (threshold {server_gc['threshold']}; at exit "
            f"{server_gc['tracked_at_exit']:,} objects tracked, {server_gc['frozen_at_exit']:,}"
            " frozen):"
        )
        print()
        print(
            "| generation | collections | p50 ms | longest ms (CPU ms) | over 50 ms | total ms "
            "| objects walked (full, most) |"
        )
        print("|---|---|---|---|---|---|---|")
        for gen, g in server_gc["generations"].items():
            print(
                f"| {gen} | {g['count']} | {g['p50_ms']:.1f} | {g['max_ms']:.1f} "
                f"({g['max_cpu_ms']:.1f}) | {g['over_50ms']} | {g['total_ms']:.0f} "
                f"| {g['walked_max'] or '-'} |"
            )
    target = result["pairwise_steady_ms"]["p99"]
    print()
    print(
        f"p99 disagreement (steady) {target:.2f} ms: "
        + ("meets" if target < 20 else "misses")
        + " the < 20 ms target"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    # `watchparty serve` freezes its start-up heap and collects young objects less often
    # (kit/clock.py); `--server-gc default` turns that off, to measure what it is worth.
    gc_tuning = "true" if args.server_gc == "tuned" else "false"
    stack = await Stack.create(args.stack, GC_TUNING=gc_tuning)
    gc_stats = stack.workdir / "server-gc.json"
    server = watchparty_server(stack, f"watchparty ({args.stack})", gc_stats=gc_stats)
    result: dict[str, Any] = {}
    serving = 0.0
    try:
        await server.start()
        serving = time.time()  # collections from here on: start-up's own are not the bench's
        log(f"seeding {args.clients + 1} accounts, creating the party")
        party_id, host, members = await setup(stack, server.base_url, args.clients)
        clients = []
        for index, account in enumerate(members):
            base = rng.uniform(args.delay_min, args.delay_max)
            skew = rng.uniform(-args.asymmetry, args.asymmetry) * base
            clients.append(
                SimClient(
                    index,
                    account,
                    offset=rng.uniform(-args.offset_ms, args.offset_ms),
                    base_up=max(1.0, base + skew / 2),
                    base_down=max(1.0, base - skew / 2),
                    jitter=args.jitter,
                    rng=random.Random(rng.random()),
                )
            )
        log(f"{len(clients)} clients connect and subscribe")
        runs = [asyncio.create_task(c.run(server.ws_url, party_id, args)) for c in clients]
        await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in clients)), 120)
        check(clients)
        await quiet(clients)  # presence events of everybody coming online
        log("they sample the clock and report their round trip")
        for c in clients:
            c.start_sampling.set()
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), 120)
        check(clients)
        await quiet(clients)
        controls = []
        async with httpx.AsyncClient() as http:
            for step in CONTROLS:
                ctl = await control(http, server.base_url, host, party_id, step)
                controls.append(ctl)
                log(
                    f"{ctl.name}: revision {ctl.timeline.revision} {ctl.timeline.state}, "
                    f"lead {ctl.timeline.anchor - ctl.sent:.0f} ms"
                )
                await asyncio.sleep(step[3])
        end = now_ms()
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        failed = [c for c in clients if c.error and "Cancelled" not in c.error]
        if failed:
            log(f"warning: {len(failed)} clients failed, first: {failed[0].error}")
        result = analyse(clients, controls, end, args)
    except Exception:
        log(server.tail())
        raise
    finally:
        await server.stop()
        if gc_stats.exists():
            result["server_gc"] = gc_summary(json.loads(gc_stats.read_text()), serving)
        await stack.close()
    return result


def check(clients: list[SimClient]) -> None:
    failed = [c for c in clients if c.error]
    if failed:
        raise RuntimeError(f"{len(failed)} clients failed, first: {failed[0].error}")


async def quiet(clients: list[SimClient], seconds: float = 1.0, limit: float = 60.0) -> None:
    """Wait until no client got anything for `seconds`, so controls start on an idle server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        last = max(c.last_message for c in clients)
        if loop.time() - last >= seconds:
            return
        await asyncio.sleep(0.2)
    log("warning: the clients' sockets never went quiet")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="embedded", choices=["embedded", "postgres"])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--offset-ms", type=float, default=5000.0)
    parser.add_argument("--delay-min", type=float, default=10.0)
    parser.add_argument("--delay-max", type=float, default=150.0)
    parser.add_argument("--jitter", type=float, default=0.3, help="fraction of the base delay")
    parser.add_argument("--asymmetry", type=float, default=0.0, help="fraction of the base")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--sample-interval", type=float, default=1.0, help="seconds")
    parser.add_argument("--step-ms", type=float, default=50.0, help="between shared instants")
    parser.add_argument("--pair-stride", type=int, default=1, help="subsample pairs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--server-gc",
        default="tuned",
        choices=["tuned", "default"],
        help="the server's garbage collector: as `watchparty serve` tunes it, or Python's default",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    stop_on_sigterm()
    arguments = parse_args()
    outcome = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps(outcome, indent=2))
    else:
        print_report(outcome, arguments)
