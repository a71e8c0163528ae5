"""The notification stream across two real `watchparty serve` processes on one PostgreSQL
database and Redis: an entry produced on one is live on the other's sockets, reading on one
clears the badge on both, and a reconnect with the last cursor loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.notifications_ops import stream
from tests.parties_ops import Person
from tests.redis_server import RedisServer
from tests.test_multiprocess_party import Serve, two_processes
from tests.test_party_stream_support import create_party

JOIN = """mutation($input: JoinPartyInput!) { joinParty(input: $input) { __typename } }"""
READ_ALL = """mutation { markNotificationsRead(input: {all: true}) { __typename
  ... on MarkNotificationsReadPayload { unreadCount } } }"""


async def person(server: Serve, name: str) -> Person:
    payload = await server.register(display_name=name)
    return Person(payload["accessToken"], payload["user"]["id"], name)


async def ask_to_join(server: Serve, who: Person, party_id: str) -> None:
    result = await server.gql(JOIN, {"input": {"partyId": party_id}}, token=who.token)
    assert result.data["joinParty"]["__typename"] == "JoinPending", result.data


def kinds(items: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        event = item["event"]
        detail = event.get("notification", {}).get("title") or event.get("unreadCount")
        out.append((event["__typename"], detail))
    return out


async def test_entries_are_live_on_both_processes_and_resume_by_cursor(
    pg_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with two_processes(pg_url, redis_server.url, tmp_path) as (a, b):
        ann = await person(a, "Ann")
        bob, carol = await person(b, "Bob"), await person(a, "Carol")
        party_id = await create_party(a, ann, visibility="PUBLIC", requireApproval=True)
        async with stream(a.base, ann) as on_a, stream(b.base, ann) as on_b:
            for s in (on_a, on_b):
                snapshot = await s.next()
                assert snapshot["event"] == {
                    "__typename": "NotificationSnapshot",
                    "unreadCount": 0,
                    "unseenCount": 0,
                }
            await ask_to_join(b, bob, party_id)  # produced on B
            added = "Bob asked to join Movie night"
            expected = [("NotificationAdded", added), ("UnreadCountChanged", 1)]
            seen_a = [await on_a.next() for _ in range(2)]
            seen_b = [await on_b.next() for _ in range(2)]
            assert kinds(seen_a) == kinds(seen_b) == expected
            assert [i["cursor"] for i in seen_a] == [i["cursor"] for i in seen_b]
            read = await a.gql(READ_ALL, token=ann.token)  # read on A
            assert read.data["markNotificationsRead"]["unreadCount"] == 0
            for s in (on_a, on_b):
                item = await s.next()
                assert item["event"] == {
                    "__typename": "NotificationsRead",
                    "ids": [],
                    "all": True,
                    "unreadCount": 0,
                    "unseenCount": 0,
                }
            last = item["cursor"]
        # Offline: Carol asks on A; Ann comes back on B with her last cursor.
        await ask_to_join(a, carol, party_id)
        async with stream(b.base, ann, after=last) as again:
            snapshot = await again.next()
            assert snapshot["cursor"] == last and snapshot["resync"] is False
            assert snapshot["event"]["unreadCount"] == 1
            missed = [await again.next() for _ in range(2)]
            assert kinds(missed) == [
                ("NotificationAdded", "Carol asked to join Movie night"),
                ("UnreadCountChanged", 1),
            ]
