"""Chat across two real `watchparty serve` processes on one PostgreSQL database and Redis:
messages sent on either arrive on the subscribers of both in one order (the history order), and
a reconnect with the last cursor seen loses nothing."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from tests.chat_ops import chat_stream, history, next_chat, send
from tests.redis_server import RedisServer
from tests.test_multiprocess_party import Serve, two_processes
from tests.test_party_stream_support import PartyStream, User, create_party, join, user


async def test_messages_from_both_processes_arrive_everywhere_in_order(
    pg_url: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b), AsyncExitStack() as ex:
        host = await user(a, "Host")
        guest = await user(b, "Guest")
        party_id = await create_party(a, host, visibility="PUBLIC")
        await join(b, guest, party_id)
        streams: list[PartyStream] = []
        for server, who in ((a, host), (b, guest), (b, host), (a, guest)):
            stream = await ex.enter_async_context(chat_stream(server.base, who.token, party_id))
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
            streams.append(stream)

        async def talk(server: Serve, who: User, tag: str) -> None:
            for n in range(8):
                await send(server, who.token, party_id, f"{tag}{n}")

        await asyncio.gather(talk(a, host, "a"), talk(b, guest, "b"))

        async def receive(stream: PartyStream) -> list[dict[str, Any]]:
            return [await next_chat(stream) for _ in range(16)]

        seen = await asyncio.gather(*(receive(s) for s in streams))
        page = await history(a, host.token, party_id, last=16, fields="id body cursor")
    orders = [[(i["cursor"], i["event"]["message"]["id"]) for i in items] for items in seen]
    assert all(order == orders[0] for order in orders[1:])
    messages = [item["event"]["message"] for item in seen[0]]
    assert [m["body"] for m in messages if m["body"].startswith("a")] == [f"a{n}" for n in range(8)]
    assert [m["body"] for m in messages if m["body"].startswith("b")] == [f"b{n}" for n in range(8)]
    assert [int(m["cursor"]) for m in messages] == list(range(1, 17))
    assert [e["node"] for e in reversed(page["edges"])] == [
        {"id": m["id"], "body": m["body"], "cursor": m["cursor"]} for m in messages
    ]


async def test_a_reconnect_with_the_last_cursor_loses_nothing(
    pg_url: str,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b):
        host = await user(a, "Host")
        guest = await user(b, "Guest")
        party_id = await create_party(a, host, visibility="PUBLIC")
        await join(b, guest, party_id)
        async with chat_stream(b.base, guest.token, party_id) as stream:
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
            for n in range(3):
                await send(a, host.token, party_id, f"live {n}")
            live = [await next_chat(stream) for _ in range(3)]
        last_cursor = live[-1]["cursor"]
        missed = [await send(a, host.token, party_id, f"missed {n}") for n in range(4)]
        async with chat_stream(b.base, guest.token, party_id, after=last_cursor) as stream:
            snapshot = await stream.next()
            assert snapshot["event"]["__typename"] == "PartySnapshot"
            assert snapshot["cursor"] == last_cursor
            replayed = [await next_chat(stream) for _ in range(4)]
            after = await send(a, host.token, party_id, "after")
            live_again = await next_chat(stream)
    assert [i["event"]["message"] for i in replayed] == missed
    assert [int(i["cursor"]) for i in replayed] == [int(last_cursor) + n for n in range(1, 5)]
    assert live_again["event"]["message"] == after
