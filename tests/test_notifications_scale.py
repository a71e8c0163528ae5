"""SQL statements of `notify` on PostgreSQL (STYLE.md: count SQL for hot operations): a constant
number per batch of `NOTIFY_BATCH` recipients, whatever the number of recipients, because each
batch's stream events (every recipient's entry event and counts) are appended in one
`record_many`."""

from __future__ import annotations

import uuid

from sqlalchemy import insert

from tests.notifications_ops import feed, stream
from tests.parties_ops import person
from tests.support import Api, live_server
from tests.test_playback_sql_counts import counting
from watchparty.accounts.models import User
from watchparty.notifications import service
from watchparty.notifications.models import NotificationKind
from watchparty.notifications.service import NOTIFY_BATCH

# Per batch: which recipients still exist; their preferences; the multi-row INSERT of the
# entries; their counts; the channels' seq blocks (one upsert); the events (one multi-row INSERT).
PER_BATCH = [
    "SELECT users",
    "SELECT notification_preferences",
    "INSERT notifications",
    "SELECT notifications",
    "INSERT event_channels",
    "INSERT event_log",
]
# A grouped notify whose entries all exist: the INSERT conflicts, then the locked SELECT and
# the UPDATE (one executemany) grow them.
PER_GROWN_BATCH = [
    "SELECT users",
    "SELECT notification_preferences",
    "INSERT notifications",
    "SELECT notifications",
    "UPDATE notifications",
    "SELECT notifications",
    "INSERT event_channels",
    "INSERT event_log",
]


def shape(statement: str) -> str:
    """'INSERT event_log', 'SELECT users'...: the verb and the first table."""
    words = statement.replace("(", " ").replace('"', "").split()
    verb = words[0]
    if verb == "SELECT":
        table = words[words.index("FROM") + 1]
    elif verb == "INSERT":
        table = words[2]
    elif verb == "UPDATE":
        table = words[1]
    else:
        table = words[-1]
    return f"{verb} {table}"


async def users(api: Api, count: int) -> list[uuid.UUID]:
    """`count` accounts written directly (registering 600 through the API would hash 600
    passwords: set-up, not what is measured)."""
    ids = [uuid.uuid4() for _ in range(count)]
    async with api.state.unit_of_work() as uow:
        await uow.session.execute(
            insert(User),
            [
                {"id": i, "email": f"scale-{i.hex}@example.com", "display_name": f"Scale {n}"}
                for n, i in enumerate(ids)
            ],
        )
    return ids


async def measure(api: Api, recipients: list[uuid.UUID], group_key: str | None = None) -> list[str]:
    async with counting(api) as statements, api.state.unit_of_work() as uow:
        await service.notify(
            uow,
            recipients,
            NotificationKind.ANNOUNCEMENT,
            data={"title": "Scale", "body": "b"},
            group_key=group_key,
        )
    return [shape(s) for s in statements]


async def test_statements_per_batch_are_constant(api: Api) -> None:
    few, many = await users(api, 10), await users(api, 600)
    assert NOTIFY_BATCH == 500
    assert await measure(api, few) == PER_BATCH
    assert await measure(api, many) == PER_BATCH * 2  # 500 + 100
    # Growing collapsed entries: constant as well.
    await measure(api, few, "g")
    await measure(api, many, "g")
    assert await measure(api, few, "g") == PER_GROWN_BATCH
    assert await measure(api, many, "g") == PER_GROWN_BATCH * 2


async def test_a_batch_reaches_each_recipients_stream_in_order(api: Api) -> None:
    """Every recipient of a batched notify gets its entry and then its counts, with
    consecutive cursors, and a reconnect from before them replays both."""
    people = [await person(api, f"Watcher {n}") for n in range(3)]
    async with live_server(api.app) as base:
        async with stream(base, people[0]) as first, stream(base, people[2]) as last:
            start = [await first.next(), await last.next()]
            async with api.state.unit_of_work() as uow:
                await service.notify(
                    uow,
                    [uuid.UUID(p.id) for p in people],
                    NotificationKind.ANNOUNCEMENT,
                    data={"title": "Hello", "body": "b"},
                )
            for tab, snapshot in zip((first, last), start, strict=True):
                added, counts = await tab.next(), await tab.next()
                assert added["event"]["__typename"] == "NotificationAdded"
                assert added["event"]["notification"]["title"] == "Hello"
                assert counts["event"] == {
                    "__typename": "UnreadCountChanged",
                    "unreadCount": 1,
                    "unseenCount": 1,
                }
                assert int(added["cursor"]) == int(snapshot["cursor"]) + 1
                assert int(counts["cursor"]) == int(added["cursor"]) + 1
        async with stream(base, people[1], after="0") as replay:
            assert (await replay.next())["event"]["__typename"] == "NotificationSnapshot"
            assert [(await replay.next())["event"]["__typename"] for _ in range(2)] == [
                "NotificationAdded",
                "UnreadCountChanged",
            ]
    assert (await feed(api, people[1]))["totalCount"] == 1
