"""Stalled subscribers: what 100 sockets that stop reading cost the server, and how soon they go.

    .venv/bin/python bench/stalled.py                      # embedded stack, ~1 min
    .venv/bin/python bench/stalled.py --stack postgres

One `watchparty serve` process, one PUBLIC party, in the same run:

1. `--sockets` healthy subscribers (they read everything): the server's RSS before and after
   they connect is the baseline, the cost of an idle subscribed socket;
2. as many stalled subscribers: the same handshake and `partyEvents` subscription, a 4 KB
   kernel receive buffer, and after the snapshot they read nothing (reading paused; no pong);
3. the host sends `--messages` chat messages of 2,000 characters; the stalled subscribers
   select each body `--aliases` + 1 times (~50 KB per event), so each is offered ~2 MB, far more
   than its budget (`WS_MAX_BUFFERED_BYTES` in the process + the kernel's send buffer).

Printed: RSS at each step and per socket, the peak RSS and the peak bytes queued in the kernel
for the stalled sockets (`ss` Send-Q on the server side) while they are held, how long after the
last message the server had aborted every stalled socket (`WS_SEND_TIMEOUT_SECONDS`), the RSS
after, and whether every healthy subscriber received every message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import time
from typing import Any

import httpx
from common import (
    BIN,
    Server,
    Stack,
    gql,
    log,
    rss_kb,
    running,
    seed_accounts,
    stop_on_sigterm,
    watchparty_server,
)
from wsclient import Stats, Subscriber, handshake_request

CREATE_PARTY = """
mutation($input: CreatePartyInput!) { createParty(input: $input) {
  __typename ... on PartyPayload { party { id } } ... on UserError { code message } } }
"""
SEND_MESSAGE = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  __typename ... on UserError { code message } } }
"""
HEALTHY = """
subscription($partyId: ID!) { partyEvents(partyId: $partyId) {
  cursor event { __typename ... on ChatMessageAdded { message { body } } } } }
"""


def stalled_query(aliases: int) -> str:
    bodies = " ".join(
        f"b{n}: event {{ ... on ChatMessageAdded {{ message {{ body }} }} }}"
        for n in range(aliases)
    )
    return (
        "subscription($partyId: ID!) { partyEvents(partyId: $partyId) { cursor event { "
        "__typename ... on ChatMessageAdded { message { body } } } " + bodies + " } }"
    )


class Quiet:
    """Where `Stats` reports (nobody listens here)."""

    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def server_side(port: int, peers: set[int]) -> tuple[int, int]:
    """(established connections from `peers`, bytes in their kernel send queues) on the server."""
    output = subprocess.run(
        ["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    count = queued = 0
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and int(fields[3].rsplit(":", 1)[1]) in peers:
            count += 1
            queued += int(fields[1])
    return count, queued


async def connect(
    url: str, token: str, query: str, party_id: str, stats: Stats, *, stall: bool
) -> tuple[Subscriber, int]:
    loop = asyncio.get_running_loop()
    host, port, request = handshake_request(url)
    init = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    ).encode()
    subscribe = json.dumps(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": query, "variables": {"partyId": party_id}},
        }
    ).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if stall:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    local_port = sock.getsockname()[1]
    _, protocol = await loop.create_connection(
        lambda: Subscriber(stats, request, init, subscribe), sock=sock
    )
    await asyncio.wait_for(protocol.ready, 60)
    if stall and protocol.transport is not None:
        protocol.transport.pause_reading()  # from now on nothing drains this socket
    return protocol, local_port


async def stalled_wave(
    args: argparse.Namespace, server: Server, token: str, party_id: str, wave: int
) -> dict[str, Any]:
    """Connect `--sockets` stalled subscribers, send `--messages`, wait for the server to drop
    them (or give up after `--wait` seconds)."""
    log(f"wave {wave + 1}: {args.sockets} stalled subscribers")
    before = rss_kb(server.pid)
    stalled = Stats(b"bench#", Quiet())
    peers: set[int] = set()
    subscribers = []
    query = stalled_query(args.aliases)
    for _ in range(args.sockets):
        protocol, port = await connect(server.ws_url, token, query, party_id, stalled, stall=True)
        subscribers.append(protocol)
        peers.add(port)
    await asyncio.sleep(1)
    idle = rss_kb(server.pid)
    held, _ = server_side(server.port, peers)
    log(f"wave {wave + 1}: {args.messages} messages")
    peak_rss, peak_queued = idle, 0
    async with httpx.AsyncClient() as client:
        for n in range(args.messages):
            k = wave * args.messages + n
            body = f"bench#{k}# " + "x" * (2000 - len(f"bench#{k}# "))
            data = await gql(
                client,
                server.base_url,
                SEND_MESSAGE,
                {"input": {"partyId": party_id, "body": body}},
                token=token,
            )
            if data["sendMessage"]["__typename"] != "ChatMessagePayload":
                raise RuntimeError(f"sendMessage failed: {data}")
            peak_rss = max(peak_rss, rss_kb(server.pid))
    last_sent = time.monotonic()
    log(f"wave {wave + 1}: waiting for the server to drop the stalled sockets")
    open_count, gone_after = held, None
    while time.monotonic() < last_sent + args.wait:
        open_count, queued = server_side(server.port, peers)
        peak_queued = max(peak_queued, queued)
        if open_count == held:  # none dropped yet: what holding them costs
            peak_rss = max(peak_rss, rss_kb(server.pid))
        if open_count == 0:
            gone_after = time.monotonic() - last_sent
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    return {
        "subscribers": subscribers,
        "rss_kb_before": before,
        "rss_kb_idle": idle,
        "rss_kb_peak": peak_rss,
        "rss_kb_after": rss_kb(server.pid),
        "idle_kb_per_socket": (idle - before) / args.sockets,
        "peak_kb_per_socket": (peak_rss - before) / args.sockets,
        "kernel_peak_kb_per_socket": peak_queued / 1024 / args.sockets,
        "held": held,
        "still_open": open_count,
        "all_gone_seconds_after_last_message": gone_after,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {
        "RATE_LIMIT_CHAT": "1000000/10",
        "WS_SEND_TIMEOUT_SECONDS": str(args.send_timeout),
        "WS_MAX_BUFFERED_BYTES": str(args.max_buffered),
        "GRAPHQL_MAX_ALIASES": str(args.aliases + 5),
    }
    stack = await Stack.create(args.stack, **env)
    server = watchparty_server(stack, f"serve ({args.stack})")
    if args.ws:  # the same app under plain uvicorn with another WebSocket protocol
        server.argv = [
            str(BIN / "uvicorn"),
            "--factory",
            "watchparty.app:create_app_from_env",
            "--port",
            str(server.port),
            "--ws",
            args.ws,
            "--no-access-log",
        ]
    subscribers: list[Subscriber] = []
    result: dict[str, Any] = {
        "server": f"uvicorn --ws {args.ws}" if args.ws else "watchparty serve",
        "stack": args.stack,
        "sockets": args.sockets,
        "wait": args.wait,
        **env,
    }
    try:
        async with running(server), httpx.AsyncClient() as client:
            (host,) = await seed_accounts(stack, 1, tag="stalled")
            data = await gql(
                client,
                server.base_url,
                CREATE_PARTY,
                {
                    "input": {
                        "title": "Stalled",
                        "visibility": "PUBLIC",
                        "media": {"url": "https://example.com/bench.mp4"},
                    }
                },
                token=host.token,
            )
            party_id = data["createParty"]["party"]["id"]
            await asyncio.sleep(1)
            rss = {"start": rss_kb(server.pid)}

            healthy = Stats(b"bench#", Quiet())
            log(f"{args.sockets} healthy subscribers")
            for _ in range(args.sockets):
                protocol, _ = await connect(
                    server.ws_url, host.token, HEALTHY, party_id, healthy, stall=False
                )
                subscribers.append(protocol)
            await asyncio.sleep(1)
            rss["healthy"] = rss_kb(server.pid)

            waves = []
            for wave in range(args.waves):
                waves.append(await stalled_wave(args, server, host.token, party_id, wave))
                subscribers.extend(waves[-1].pop("subscribers"))
            await asyncio.sleep(2)
            rss["end"] = rss_kb(server.pid)
            complete = all(
                healthy.events.get(k, [0])[0] == args.sockets
                for k in range(args.messages * args.waves)
            )
            aborts = server.tail(10**7).count("aborted a WebSocket whose peer stopped reading")
            result.update(
                rss_kb=rss,
                healthy_kb_per_socket=(rss["healthy"] - rss["start"]) / args.sockets,
                waves=waves,
                abort_log_lines=aborts,
                healthy_got_every_message=complete,
            )
    finally:
        for subscriber in subscribers:
            if subscriber.transport is not None:
                subscriber.transport.abort()
        await stack.close()
    return result


def report(result: dict[str, Any]) -> None:
    rss = result["rss_kb"]
    n = result["sockets"]
    lines = [
        f"{result['server']} on the {result['stack']} stack; {n} healthy subscribers, then "
        f"{len(result['waves'])} wave(s) of {n} stalled; "
        f"WS_MAX_BUFFERED_BYTES={result['WS_MAX_BUFFERED_BYTES']}, "
        f"WS_SEND_TIMEOUT_SECONDS={result['WS_SEND_TIMEOUT_SECONDS']}",
        f"server RSS at start                       {rss['start'] / 1024:7.1f} MB",
        f"+ {n} healthy idle subscribers            {rss['healthy'] / 1024:7.1f} MB  "
        f"{result['healthy_kb_per_socket']:6.1f} KB per socket (baseline)",
    ]
    for number, wave in enumerate(result["waves"], 1):
        gone = wave["all_gone_seconds_after_last_message"]
        lines += [
            f"wave {number}: + {n} stalled, before events     "
            f"{wave['rss_kb_idle'] / 1024:7.1f} MB  "
            f"{wave['idle_kb_per_socket']:6.1f} KB per socket",
            f"wave {number}: peak while they are held     "
            f"{wave['rss_kb_peak'] / 1024:7.1f} MB  "
            f"{wave['peak_kb_per_socket']:6.1f} KB per socket, "
            f"+ {wave['kernel_peak_kb_per_socket']:.1f} KB each in the kernel's send queue",
            f"wave {number}: after                        {wave['rss_kb_after'] / 1024:7.1f} MB; "
            f"{wave['held'] - wave['still_open']} of {wave['held']} dropped by the server, "
            + (
                f"the last {gone:.1f} s after the last message"
                if gone is not None
                else f"{wave['still_open']} still open after {result['wait']:.0f} s"
            ),
        ]
    lines += [
        f"server RSS at the end                     {rss['end'] / 1024:7.1f} MB; "
        f"{result['abort_log_lines']} abort warnings logged",
        f"healthy subscribers got every message: {result['healthy_got_every_message']}",
    ]
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--aliases", type=int, default=25)
    parser.add_argument("--send-timeout", type=float, default=10.0)
    parser.add_argument("--max-buffered", type=int, default=262_144)
    parser.add_argument("--waves", type=int, default=2, help="stalled waves (2: is memory reused?)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the drops")
    parser.add_argument(
        "--ws",
        default="",
        help="run plain uvicorn with this --ws protocol instead of `watchparty serve` "
        "(websockets-sansio: as before the bound)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    stop_on_sigterm()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else "", end="")
    if not args.json:
        report(result)


if __name__ == "__main__":
    main()
