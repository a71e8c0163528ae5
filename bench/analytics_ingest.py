"""Sustained analytics ingest through `trackEvents`, next to a bare COPY floor.

    .venv/bin/python bench/analytics_ingest.py               # 20 s, 8 clients, batches of 100
    .venv/bin/python bench/analytics_ingest.py --seconds 30 --clients 16 --restart-worker

A scratch PostgreSQL database and Redis key prefix (`common.Stack`), one `watchparty serve`
process (`--server-workers` uvicorn workers) and one `watchparty worker` process draining the
stream every second. `--clients` signed-in clients (accounts seeded in the database) each send
`trackEvents` calls of `--batch` new events back to back for `--seconds`, over HTTP.

Printed:
- ingest: events accepted per second (answered: durable in the Redis stream), calls, p50 / p99 /
  max per call, RateLimited answers (backpressure; the client waits and sends again);
- arrival: seconds after the last answer until every accepted event is a row of
  `analytics_events` (the drain), and the count (nothing may be missing or doubled); with
  `--restart-worker` the worker is SIGKILLed halfway and a new one started;
- CPU: the server's and the worker's CPU seconds per 10,000 events, and how busy the whole
  machine was (near 100 %: the figures are bound by a CPU shared with everything else on it);
- floor: the same number of rows of the same shape written into `analytics_events` by a bare
  asyncpg `copy_records_to_table` (batches of 10,000), rows per second; the ratio of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from common import (
    BIN,
    PG_ADMIN_URL,
    Account,
    CpuMeter,
    Stack,
    cpu_seconds,
    log,
    percentile,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)

TRACK = (
    "mutation($input: TrackEventsInput!) { trackEvents(input: $input) { __typename "
    "... on TrackEventsPayload { accepted duplicates } "
    "... on RateLimited { retryAfterSeconds } ... on UserError { code message } } }"
)
NAMES = ("player.heartbeat", "player.play", "player.pause", "player.seek", "page.view")


def batch_of(size: int, party: str) -> list[dict[str, Any]]:
    now = time.time() * 1000
    return [
        {
            "id": uuid.uuid4().hex,
            "name": NAMES[i % len(NAMES)],
            "occurredAtMs": now - i,
            "partyId": party,
            "positionSeconds": float(i),
            "properties": {"watchedSeconds": 10, "playbackRate": 1},
        }
        for i in range(size)
    ]


class Totals:
    def __init__(self) -> None:
        self.accepted = 0
        self.calls = 0
        self.limited = 0
        self.latencies: list[float] = []


async def client_loop(
    http: httpx.AsyncClient, account: Account, size: int, until: float, totals: Totals
) -> None:
    headers = {"authorization": f"Bearer {account.token}", "content-type": "application/json"}
    party = str(uuid.uuid4())
    while time.monotonic() < until:
        body = json.dumps(
            {"query": TRACK, "variables": {"input": {"events": batch_of(size, party)}}}
        )
        started = time.perf_counter()
        response = await http.post("/graphql", content=body, headers=headers)
        elapsed = time.perf_counter() - started
        answer = response.json()["data"]["trackEvents"]
        if answer["__typename"] == "RateLimited":
            totals.limited += 1
            await asyncio.sleep(answer["retryAfterSeconds"])
            continue
        if answer["__typename"] != "TrackEventsPayload" or answer["accepted"] != size:
            raise RuntimeError(f"unexpected answer {answer}")
        totals.latencies.append(elapsed)
        totals.accepted += answer["accepted"]
        totals.calls += 1


async def start_worker(stack: Stack) -> asyncio.subprocess.Process:
    handle = (stack.workdir / "worker.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        str(BIN / "watchparty"), "worker", env=stack.env, cwd=stack.workdir,
        stdout=handle, stderr=handle,
    )  # fmt: skip
    handle.close()
    return process


def pg_url(stack: Stack) -> str:
    assert stack.database is not None
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{stack.database}"


async def count_rows(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM analytics_events"))


async def copy_floor(connection: asyncpg.Connection, rows: int) -> float:
    """Seconds a bare COPY takes to write `rows` rows like the ones ingested."""
    now = datetime.now(UTC)
    columns = (
        "day", "id", "name", "source", "occurred_at", "received_at", "user_id", "party_id",
        "position_seconds", "properties", "ip", "browser", "os", "device",
    )  # fmt: skip
    user, party = uuid.uuid4(), uuid.uuid4()
    properties = json.dumps({"watchedSeconds": 10, "playbackRate": 1})
    records = [
        (now.date(), uuid.uuid4().hex, NAMES[i % len(NAMES)], "CLIENT", now, now, user, party,
         float(i % 100), properties, "127.0.0.0", "Other", "Other", "DESKTOP")
        for i in range(rows)
    ]  # fmt: skip
    started = time.perf_counter()
    for start in range(0, rows, 10_000):
        await connection.copy_records_to_table(
            "analytics_events", records=records[start : start + 10_000], columns=columns
        )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--restart-worker", action="store_true")
    args = parser.parse_args()
    stop_on_sigterm()

    stack = await Stack.create(
        "postgres",
        RATE_LIMIT_ANALYTICS="10000000/60",
        ANALYTICS_STREAM_MAX_ENTRIES="100000",
        LOG_LEVEL="WARNING",
    )
    server = watchparty_server(stack, "api")
    server.argv += ["--workers", str(args.server_workers)]
    worker: asyncio.subprocess.Process | None = None
    connection: asyncpg.Connection | None = None
    try:
        accounts = await seed_accounts(stack, args.clients, "analytics")
        worker = await start_worker(stack)
        await server.start()
        connection = await asyncpg.connect(pg_url(stack))
        totals = Totals()
        limits = httpx.Limits(max_connections=args.clients)
        log(f"ingesting for {args.seconds:.0f} s with {args.clients} clients ...")
        async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as http:
            until = time.monotonic() + args.seconds
            started = time.monotonic()
            meter = CpuMeter([server.pid])
            server_cpu, worker_cpu, mark = cpu_seconds(server.pid), 0.0, cpu_seconds(worker.pid)
            loops = [
                asyncio.create_task(client_loop(http, a, args.batch, until, totals))
                for a in accounts
            ]
            if args.restart_worker:
                await asyncio.sleep(args.seconds / 2)
                worker_cpu += cpu_seconds(worker.pid) - mark
                worker.send_signal(signal.SIGKILL)
                await worker.wait()
                log("worker SIGKILLed mid-run; starting another")
                worker = await start_worker(stack)
                mark = cpu_seconds(worker.pid)
            await asyncio.gather(*loops)
            elapsed = time.monotonic() - started
            busy, own = meter.machine(), meter.own()
            server_cpu = cpu_seconds(server.pid) - server_cpu
        answered_at = time.monotonic()
        arrived = await count_rows(connection)
        while arrived < totals.accepted and time.monotonic() - answered_at < 180:
            await asyncio.sleep(0.2)
            arrived = await count_rows(connection)
        lag = time.monotonic() - answered_at
        worker_cpu += cpu_seconds(worker.pid) - mark
        floor_seconds = await copy_floor(connection, totals.accepted)

        rate = totals.accepted / elapsed
        floor_rate = totals.accepted / floor_seconds
        lat = totals.latencies
        print(f"\nanalytics ingest: {args.clients} clients, batches of {args.batch}, "
              f"{elapsed:.1f} s, server workers {args.server_workers}"
              f"{', worker SIGKILLed halfway' if args.restart_worker else ''}")  # fmt: skip
        print(f"  accepted      {totals.accepted:,} events in {totals.calls:,} calls: "
              f"{rate:,.0f} events/s")  # fmt: skip
        print(f"  per call      p50 {percentile(lat, 50) * 1000:.1f} ms  "
              f"p99 {percentile(lat, 99) * 1000:.1f} ms  max {max(lat) * 1000:.1f} ms")  # fmt: skip
        print(f"  backpressure  {totals.limited} RateLimited answers")
        print(f"  arrived       {arrived:,} of {totals.accepted:,} rows "
              f"({'all' if arrived == totals.accepted else 'MISMATCH'}), "
              f"{lag:.1f} s after the last answer")  # fmt: skip
        per = 10_000 / max(totals.accepted, 1)
        print(f"  CPU           server {server_cpu * per:.2f} s, worker {worker_cpu * per:.2f} s "
              f"per 10,000 events; this bench's clients {own * 100:.0f} % of a core; "
              f"machine {busy * 100:.0f} % busy")  # fmt: skip
        print(f"  floor         bare COPY of {totals.accepted:,} rows: {floor_seconds:.2f} s, "
              f"{floor_rate:,.0f} rows/s")  # fmt: skip
        print(f"  ratio         {rate / floor_rate:.2f} of the floor")
    finally:
        if connection is not None:
            await connection.close()
        await server.stop()
        if worker is not None and worker.returncode is None:
            worker.terminate()
            await worker.wait()
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
