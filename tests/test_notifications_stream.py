"""`notificationEvents` over WebSocket on both stacks, and the first real producer (a video's
processing ending READY or FAILED notifies its owner)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from tests.notifications_ops import (
    CLEAR,
    DELETE,
    MARK_READ,
    MARK_SEEN,
    feed,
    mutate,
    notify,
    stream,
)
from tests.parties_ops import person
from tests.support import Api, live_server
from tests.video_samples import complete, make_sample, upload


async def test_snapshot_then_every_change_on_every_socket(any_api: Api) -> None:
    alice, bob, carol = [await person(any_api, n) for n in ("Alice", "Bob", "Carol")]
    await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": "Before"})
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        tabs = [await exits.enter_async_context(stream(base, alice)) for _ in range(2)]
        for tab in tabs:
            snapshot = await tab.next()
            assert snapshot["resync"] is False and snapshot["cursor"] is not None
            assert snapshot["event"] == {
                "__typename": "NotificationSnapshot",
                "unreadCount": 1,
                "unseenCount": 1,
            }

        await notify(any_api, [alice], actor=bob, group_key="reply:m1")
        node = (await feed(any_api, alice))["edges"][0]["node"]
        for tab in tabs:
            added, count = await tab.events(2)
            assert added == {
                "__typename": "NotificationAdded",
                "notification": {"id": node["id"], "title": "Bob replied to you", "actorCount": 1},
            }
            assert count == {"__typename": "UnreadCountChanged", "unreadCount": 2, "unseenCount": 2}

        await notify(any_api, [alice], actor=carol, group_key="reply:m1")
        for tab in tabs:
            updated, count = await tab.events(2)
            assert updated == {
                "__typename": "NotificationUpdated",
                "notification": {
                    "id": node["id"],
                    "title": "Carol and 1 other replied to you",
                    "actorCount": 2,
                },
            }
            assert count["unreadCount"] == 2

        # Reading on one device reaches every socket.
        await mutate(any_api, MARK_READ, alice, input={"ids": [node["id"]]})
        for tab in tabs:
            item = await tab.next()
            assert item["event"] == {
                "__typename": "NotificationsRead",
                "ids": [node["id"]],
                "all": False,
                "unreadCount": 1,
                "unseenCount": 1,
            }
        await mutate(any_api, MARK_SEEN, alice)
        for tab in tabs:
            assert (await tab.events(1)) == [
                {"__typename": "UnreadCountChanged", "unreadCount": 1, "unseenCount": 0}
            ]
        # Bob's notifications never reach Alice's sockets.
        await notify(any_api, [bob], actor=carol)
        await mutate(any_api, MARK_READ, alice, input={"all": True})
        for tab in tabs:
            assert (await tab.next())["event"]["__typename"] == "NotificationsRead"


async def test_resume_after_a_cursor_replays_what_was_missed(any_api: Api) -> None:
    alice, bob = await person(any_api, "Alice"), await person(any_api, "Bob")
    async with live_server(any_api.app) as base:
        async with stream(base, alice) as tab:
            cursor = (await tab.next())["cursor"]
        await notify(any_api, [alice], actor=bob)
        await mutate(any_api, MARK_READ, alice, input={"all": True})
        async with stream(base, alice, after=cursor) as tab:
            snapshot = await tab.next()
            assert (snapshot["resync"], snapshot["cursor"]) == (False, cursor)
            assert snapshot["event"]["unreadCount"] == 0
            missed = [await tab.next() for _ in range(3)]
        assert [m["event"]["__typename"] for m in missed] == [
            "NotificationAdded",
            "UnreadCountChanged",
            "NotificationsRead",
        ]
        assert [int(m["cursor"]) for m in missed] == [int(cursor) + n for n in (1, 2, 3)]
        async with stream(base, alice, after="junk") as tab:
            assert (await tab.next())["resync"] is True


async def test_anonymous_stream_ends_not_authenticated(any_api: Api) -> None:
    async with live_server(any_api.app) as base, stream(base, None) as tab:
        message = await tab.message()
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_AUTHENTICATED"
        assert (await tab.message())["type"] == "complete"


async def test_a_processed_video_notifies_its_owner(api_embedded: Api, tmp: Path) -> None:
    owner = await person(api_embedded, "Owner")
    sample = await make_sample(tmp / "sample.mp4", seconds=1)
    video_id = await upload(api_embedded, owner.token, sample.read_bytes())
    await complete(api_embedded, owner.token, video_id)
    await api_embedded.drain_jobs()
    node = (await feed(api_embedded, owner))["edges"][0]["node"]
    assert {k: node[k] for k in ("kind", "title", "body", "actionPath", "subjectType")} == {
        "kind": "VIDEO_READY",
        "title": "Your video is ready",
        "body": "Sample is ready to watch.",
        "actionPath": f"/videos/{video_id}",
        "subjectType": "VIDEO",
    }
    assert (node["subjectId"], node["actor"], node["actorCount"]) == (video_id, None, 0)


async def test_a_failed_video_notifies_its_owner(any_api: Api) -> None:
    owner = await person(any_api, "Owner")
    video_id = await upload(any_api, owner.token, bytes(20_000), filename="junk.mp4")
    await complete(any_api, owner.token, video_id)
    for _ in range(300):
        await any_api.drain_jobs()
        page = await feed(any_api, owner)
        if page["totalCount"]:
            break
        await asyncio.sleep(0.1)
    node = page["edges"][0]["node"]
    assert (node["kind"], node["title"], node["subjectId"]) == (
        "VIDEO_FAILED",
        "Your video could not be processed",
        video_id,
    )
    video = await any_api.gql(
        "query($id: ID!) { video(id: $id) { processing { status error } } }",
        {"id": video_id},
        token=owner.token,
    )
    processing = video.data["video"]["processing"]
    assert processing["status"] == "FAILED"
    assert node["body"] == f"Sample: {processing['error']}"


async def test_deleting_and_clearing_reach_every_socket(any_api: Api) -> None:
    alice, bob = await person(any_api, "Alice"), await person(any_api, "Bob")
    for n in range(3):
        await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": f"News {n}", "body": "b"})
    await notify(any_api, [bob], "ANNOUNCEMENT", data={"title": "Bob's", "body": "b"})
    ids = [edge["node"]["id"] for edge in (await feed(any_api, alice))["edges"]]
    await mutate(any_api, MARK_READ, alice, input={"ids": [ids[0]]})
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        tabs = [await exits.enter_async_context(stream(base, alice)) for _ in range(2)]
        bobs = await exits.enter_async_context(stream(base, bob))
        for tab in tabs:
            assert (await tab.next())["event"]["unreadCount"] == 2
        await bobs.next()

        # Deleted on one device (an unread one): gone on every socket, with the counts after.
        deleted = await mutate(any_api, DELETE, alice, id=ids[1])
        assert deleted["__typename"] == "DeleteNotificationPayload"
        for tab in tabs:
            assert await tab.events(1) == [
                {
                    "__typename": "NotificationsDeleted",
                    "ids": [ids[1]],
                    "all": False,
                    "unreadCount": 1,
                    "unseenCount": 1,
                }
            ]
        # Another person's id is NotFound and tells nobody anything.
        bob_id = (await feed(any_api, bob))["edges"][0]["node"]["id"]
        assert (await mutate(any_api, DELETE, alice, id=bob_id))["__typename"] == "NotFound"

        cleared = await mutate(any_api, CLEAR, alice)
        assert cleared == {"__typename": "ClearNotificationsPayload", "deletedCount": 2}
        for tab in tabs:
            item = await tab.next()
            assert item["event"] == {
                "__typename": "NotificationsDeleted",
                "ids": [],
                "all": True,
                "unreadCount": 0,
                "unseenCount": 0,
            }
            cursor = item["cursor"]
        # Bob's stream saw none of it: the next thing on it is his own.
        await mutate(any_api, DELETE, bob, id=bob_id)
        assert (await bobs.next())["event"]["ids"] == [bob_id]

    # A reconnect from before the clear replays it.
    async with (
        live_server(any_api.app) as base,
        stream(base, alice, after=str(int(cursor) - 1)) as tab,
    ):
        assert (await tab.next())["event"]["__typename"] == "NotificationSnapshot"
        assert (await tab.next())["event"]["all"] is True
