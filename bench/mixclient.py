"""Party members for `mix.py`: many small parties' members in one asyncio process.

    python bench/mixclient.py  < config JSON on the first stdin line >

Config: {"url", "query" (the partyEvents subscription), "members": [{"token", "party" (its
index), "partyId", "host": bool}, ...], "schedule": {...} (periods in seconds, see mix.py),
"emoji": [...], "seed", "concurrency"}.

Each member is one graphql-transport-ws connection (a bare `asyncio.Protocol`, the framing of
`wsclient.py`): `connection_init`, the `partyEvents` subscription as id "1" (ready on its
snapshot), and every other operation over the same socket as its own id, the way a
`graphql-ws` client sends them. After "start <seconds>" on stdin each member runs its schedule
with random phase offsets until the time is up, then the process prints {"report": ...}:

- "arrivals": "<party>:<revision>" -> [members that got that PlaybackChanged, last arrival];
- "controls": "<party>:<revision>" -> when the host sent the control that made it (the
  arrival and send times are `time.monotonic()`, system-wide on Linux, so the coordinator
  matches them across processes);
- "ops": kind -> [count, errors, latencies...] for the member's own operations;
- "frames", "ended" (streams that ended or sockets that closed), "failed".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from typing import Any, cast

from wsclient import OP_TEXT, encode_frame, handshake_request, receive

REPORT_STATE = """mutation($input: ReportPlayerStateInput!) {
  reportPlayerState(input: $input) { __typename } }"""
SERVER_TIME = "query($t: Float!) { serverTime(clientTimeMs: $t) { serverReceivedMs } }"
SEND_MESSAGE = """mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { __typename } }"""
SEND_REACTION = """mutation($input: SendReactionInput!) {
  sendReaction(input: $input) { __typename } }"""
CONTROL = """mutation($input: {input_type}!) {{
  {name}(input: $input) {{ __typename ... on PlaybackPayload {{ playback {{ revision }} }} }} }}"""
CONTROLS = [
    ("play", CONTROL.format(input_type="PlaybackControlInput", name="play")),
    ("seek", CONTROL.format(input_type="SeekInput", name="seek")),
    ("pause", CONTROL.format(input_type="PlaybackControlInput", name="pause")),
]
SUCCESS = {
    "reportPlayerState": "ReportPlayerStatePayload",
    "sendMessage": "ChatMessagePayload",
    "sendReaction": "SendReactionPayload",
    "play": "PlaybackPayload",
    "seek": "PlaybackPayload",
    "pause": "PlaybackPayload",
}


class Totals:
    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.controls: dict[str, float] = {}
        self.ops: dict[str, list[Any]] = {}  # kind -> [count, errors, [latencies]]
        self.frames = 0
        self.ended = 0
        self.noops = 0
        self.first_error = ""

    def op(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        entry = self.ops.setdefault(kind, [0, 0, []])
        entry[0] += 1
        entry[2].append(seconds)
        if not ok:
            entry[1] += 1
            if not self.first_error:
                self.first_error = f"{kind}: {detail[:300]}"


class Member(asyncio.Protocol):
    def __init__(
        self, totals: Totals, request: bytes, init: bytes, subscribe: bytes, spec: dict[str, Any]
    ) -> None:
        self.totals = totals
        self.spec = spec
        self.request = request
        self.init = init
        self.subscribe = subscribe
        self.party = int(spec["party"])
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.phase = "handshake"  # -> "ack" -> "snapshot" -> "live" -> "ended"
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.revision = -1  # the newest playback revision this member has seen
        self.next_id = 2

    # -- the connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(ConnectionError(f"connection lost in phase {self.phase}"))

    def _end(self, error: Exception) -> None:
        if self.phase == "live":
            self.totals.ended += 1
        self.phase = "ended"
        if not self.ready.done():
            self.ready.set_exception(error)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        receive(self, data)

    def _on_text(self, payload: bytes, now: float) -> None:
        if self.phase == "live" and payload.startswith(b'{"id":"1","type":"next"'):
            self.totals.frames += 1
            if b"PlaybackChanged" in payload:
                message = json.loads(payload)
                event = message["payload"]["data"]["partyEvents"]["event"]
                revision = int(event["playback"]["revision"])
                self.revision = max(self.revision, revision)
                key = f"{self.party}:{revision}"
                entry = self.totals.arrivals.get(key)
                if entry is None:
                    self.totals.arrivals[key] = [1, now]
                else:
                    entry[0] += 1
                    entry[1] = max(entry[1], now)
            return
        message = json.loads(payload)
        kind = message.get("type")
        op_id = message.get("id")
        if kind == "ping":
            self._send(OP_TEXT, b'{"type":"pong"}')
        elif self.phase == "ack" and kind == "connection_ack":
            self.phase = "snapshot"
            self._send(OP_TEXT, self.subscribe)
        elif self.phase == "snapshot" and kind == "next" and op_id == "1":
            if "errors" in message.get("payload", {}):
                self._fail(f"subscription refused: {payload[:300]!r}")
                return
            self.phase = "live"
            with contextlib.suppress(KeyError, TypeError):
                event = message["payload"]["data"]["partyEvents"]["event"]
                self.revision = int(event["party"]["playback"]["revision"])
            if not self.ready.done():
                self.ready.set_result(None)
        elif op_id == "1" and kind in ("error", "complete"):
            self._end(RuntimeError(f"stream ended: {payload[:300]!r}"))
        elif op_id in self.pending:
            future = self.pending[op_id]
            if kind == "next" and not future.done():
                future.set_result(message.get("payload", {}))
            elif kind == "error" and not future.done():
                future.set_result({"errors": message.get("payload")})
            elif kind == "complete":
                self.pending.pop(op_id, None)
                if not future.done():
                    future.set_result({"errors": "completed without a result"})
        elif self.phase != "live":
            self._fail(f"unexpected message in phase {self.phase}: {payload[:300]!r}")

    def _fail(self, reason: str) -> None:
        self._end(RuntimeError(reason))
        if self.transport is not None:
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))

    # -- operations over the socket --------------------------------------------------------

    async def operation(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if self.phase != "live":
            raise ConnectionError("not connected")
        op_id = str(self.next_id)
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[op_id] = future
        body = {
            "id": op_id,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables},
        }
        self._send(OP_TEXT, json.dumps(body).encode())
        try:
            return await asyncio.wait_for(future, 30)
        finally:
            self.pending.pop(op_id, None)

    async def timed(self, kind: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one operation and count it; returns its data ({} on an error)."""
        started = time.monotonic()
        try:
            payload = await self.operation(query, variables)
        except Exception as exc:
            self.totals.op(kind, time.monotonic() - started, False, repr(exc))
            return {}
        seconds = time.monotonic() - started
        data = payload.get("data") or {}
        if payload.get("errors") or not data:
            self.totals.op(kind, seconds, False, json.dumps(payload)[:300])
            return {}
        expected = SUCCESS.get(kind)
        result = next(iter(data.values()))
        if expected is not None and result.get("__typename") != expected:
            self.totals.op(kind, seconds, False, json.dumps(result)[:300])
            return {}
        self.totals.op(kind, seconds, True)
        return cast(dict[str, Any], data)


async def every(
    period: float, offset: float, until: float, action: Any, running: set[asyncio.Task[Any]]
) -> None:
    """Start `action(n)` at offset, offset + period, ... (from now) until `until` (monotonic);
    the tasks go into `running` so the caller can wait for the last ones."""
    base = time.monotonic() + offset
    n = 0
    while (at := base + n * period) < until:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        task = asyncio.get_running_loop().create_task(action(n))
        running.add(task)
        task.add_done_callback(running.discard)
        n += 1


async def run_member(
    member: Member,
    schedule: dict[str, float],
    emoji: list[str],
    rng: random.Random,
    until: float,
    party_phase: float,
    running: set[asyncio.Task[Any]],
) -> None:
    spec = member.spec
    party_id = spec["partyId"]
    tasks = []

    async def report_state(n: int) -> None:
        await member.timed(
            "reportPlayerState",
            REPORT_STATE,
            {
                "input": {
                    "partyId": party_id,
                    "state": "PLAYING",
                    "positionSeconds": 10.0 + n * schedule["state"],
                    "clientTimeMs": time.time() * 1000,
                    "rttMs": 2.0,
                }
            },
        )

    async def server_time(n: int) -> None:
        await member.timed("serverTime", SERVER_TIME, {"t": time.time() * 1000})

    async def chat(n: int) -> None:
        body = f"mix chat {n} from a member of party {member.party}"
        await member.timed(
            "sendMessage", SEND_MESSAGE, {"input": {"partyId": party_id, "body": body}}
        )

    async def burst(n: int) -> None:
        for index in range(int(schedule["burst_size"])):
            await member.timed(
                "sendReaction",
                SEND_REACTION,
                {
                    "input": {
                        "partyId": party_id,
                        "emoji": emoji[(n + index) % len(emoji)],
                        "videoPositionSeconds": 30.0,
                        "x": rng.random(),
                        "y": rng.random(),
                    }
                },
            )
            await asyncio.sleep(rng.uniform(0.1, 0.4))

    cycle = rng.randrange(len(CONTROLS))

    async def control(n: int) -> None:
        name, query = CONTROLS[(cycle + n) % len(CONTROLS)]
        variables: dict[str, Any] = {"partyId": party_id}
        if name == "seek":
            variables["positionSeconds"] = 60.0 + 7 * n
        known = member.revision
        sent = time.monotonic()
        data = await member.timed(name, query, {"input": variables})
        playback = (data.get(name) or {}).get("playback")
        if playback is None:
            return
        if int(playback["revision"]) <= known:
            member.totals.noops += 1  # e.g. play while playing: no change, no event
            return
        member.totals.controls[f"{member.party}:{playback['revision']}"] = sent

    loops = [
        (schedule["state"], report_state),
        (schedule["server_time"], server_time),
        (schedule["chat"], chat),
    ]
    for period, action in loops:
        tasks.append(every(period, rng.uniform(0, period), until, action, running))
    # A party's reactions come in bursts: all its members at about the same moment.
    burst_period = schedule["burst"]
    tasks.append(every(burst_period, party_phase + rng.uniform(0, 1.0), until, burst, running))
    if spec["host"]:
        offset = party_phase % schedule["control"]
        tasks.append(every(schedule["control"], offset, until, control, running))
    await asyncio.gather(*tasks)


async def connect_all(config: dict[str, Any], totals: Totals) -> tuple[list[Member], int]:
    loop = asyncio.get_running_loop()
    host, port, request = handshake_request(config["url"])
    gate = asyncio.Semaphore(int(config.get("concurrency", 25)))
    members: list[Member | None] = [None] * len(config["members"])
    failures: list[str] = []

    async def one(index: int, spec: dict[str, Any]) -> None:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {spec['token']}"}}
        subscribe = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": config["query"], "variables": {"id": spec["partyId"]}},
        }
        async with gate:
            try:
                _, protocol = await loop.create_connection(
                    lambda: Member(
                        totals,
                        request,
                        json.dumps(init).encode(),
                        json.dumps(subscribe).encode(),
                        spec,
                    ),
                    host,
                    port,
                )
                await asyncio.wait_for(protocol.ready, 120)
                members[index] = protocol
            except Exception as exc:
                failures.append(str(exc)[:300])

    await asyncio.gather(*(one(i, spec) for i, spec in enumerate(config["members"])))
    if failures:
        print(f"mixclient: {len(failures)} failed, first: {failures[0]}", file=sys.stderr)
    return [m for m in members if m is not None], len(failures)


async def main() -> None:
    loop = asyncio.get_running_loop()
    config = json.loads(sys.stdin.readline())
    totals = Totals()
    members, failed = await connect_all(config, totals)
    print(json.dumps({"ready": len(members), "failed": failed}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    line = (await reader.readline()).decode().split()
    if line and line[0] == "start":
        seconds = float(line[1])
        until = time.monotonic() + seconds
        rng = random.Random(config.get("seed", 1))
        phases: dict[int, float] = {}
        running: set[asyncio.Task[Any]] = set()
        runs = []
        for member in members:
            party_phase = phases.setdefault(
                member.party, rng.uniform(0, config["schedule"]["burst"])
            )
            runs.append(
                run_member(
                    member, config["schedule"], config["emoji"], rng, until, party_phase, running
                )
            )
        await asyncio.gather(*runs)
        if running:
            await asyncio.wait(list(running), timeout=35)
        await asyncio.sleep(2.0)  # the last controls' events reach everybody
        ops = {
            kind: [count, errors, latencies]
            for kind, (count, errors, latencies) in totals.ops.items()
        }
        report = {
            "arrivals": totals.arrivals,
            "controls": totals.controls,
            "ops": ops,
            "frames": totals.frames,
            "ended": totals.ended,
            "noops": totals.noops,
            "live": sum(1 for m in members if m.phase == "live"),
            "failed": failed,
            "first_error": totals.first_error,
        }
        print(json.dumps({"report": report}), flush=True)
        await reader.readline()
    for member in members:
        if member.transport is not None:
            member.transport.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
