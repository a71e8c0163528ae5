"""The notification feed through GraphQL over HTTP, on both stacks: collapsing, paging,
marking read and seen, deleting, and who may touch what. Notifications are produced by the
service's `notify` (what the producers call); reading and marking go through the API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from tests.notifications_ops import (
    CLEAR,
    COUNT,
    DELETE,
    MARK_READ,
    MARK_SEEN,
    feed,
    mutate,
    notify,
)
from tests.parties_ops import Person, person
from tests.support import Api
from tests.test_playback_sql_counts import counting
from watchparty.kit.time import utcnow
from watchparty.notifications.models import Notification


def _error(typename: str, code: str, message: str, field: str | None) -> dict[str, str | None]:
    return {"__typename": typename, "code": code, "message": message, "field": field}


async def test_a_group_collapses_into_one_entry_that_grows(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    bob, carol, dave = [await person(any_api, name) for name in ("Bob", "Carol", "Dave")]
    party = str(uuid.uuid4())
    data = {"partyId": party, "messageId": "m1", "excerpt": "Nice scene!"}
    for actor in (bob, carol, dave):
        await notify(any_api, [alice], actor=actor, group_key="reply:m1", data=data)
    page = await feed(any_api, alice)
    assert page["totalCount"] == 1
    node = page["edges"][0]["node"]
    assert {k: node[k] for k in ("kind", "title", "body", "actionPath", "actorCount")} == {
        "kind": "REPLY",
        "title": "Dave and 2 others replied to you",
        "body": "Nice scene!",
        "actionPath": f"/parties/{party}?message=m1",
        "actorCount": 3,
    }
    assert node["actor"] == {"id": dave.id, "displayName": "Dave"}
    assert (node["subjectType"], node["subjectId"], node["seenAt"], node["readAt"]) == (
        None,
        None,
        None,
        None,
    )
    created = datetime.fromisoformat(node["createdAt"])
    assert datetime.fromisoformat(node["updatedAt"]) >= created
    assert datetime.fromisoformat(node["expiresAt"]) - created >= timedelta(days=30)

    # The same actor again: not a new person; the entry stays one.
    await notify(any_api, [alice], actor=carol, group_key="reply:m1", data=data)
    node = (await feed(any_api, alice))["edges"][0]["node"]
    assert (node["title"], node["actorCount"], node["actor"]["displayName"]) == (
        "Carol and 2 others replied to you",
        3,
        "Carol",
    )
    assert (await any_api.gql(COUNT, token=alice.token)).data == {"unreadNotificationCount": 1}

    # Once read, the group starts a fresh entry.
    await mutate(any_api, MARK_READ, alice, input={"all": True})
    await notify(any_api, [alice], actor=bob, group_key="reply:m1", data=data)
    page = await feed(any_api, alice)
    assert [(e["node"]["title"], e["node"]["readAt"] is None) for e in page["edges"]] == [
        ("Bob replied to you", True),
        ("Carol and 2 others replied to you", False),
    ]
    # The actor is never notified of their own action; a recipient that does not exist (an
    # account deleted meanwhile) is skipped without failing the others.
    gone = Person(token="", id=str(uuid.uuid4()), name="Gone")
    await notify(any_api, [bob, gone, carol], actor=bob)
    assert (await feed(any_api, bob))["totalCount"] == 0
    assert (await feed(any_api, carol))["totalCount"] == 1


async def test_pages_newest_first_and_unread_only(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    for n in range(5):
        await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": f"News {n}", "body": "b"})
    first = await feed(any_api, alice, first=2)
    assert first["totalCount"] == 5
    assert [e["node"]["title"] for e in first["edges"]] == ["News 4", "News 3"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    second = await feed(any_api, alice, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["title"] for e in second["edges"]] == ["News 2", "News 1"]
    last = await feed(any_api, alice, first=2, after=second["pageInfo"]["endCursor"])
    assert [e["node"]["title"] for e in last["edges"]] == ["News 0"]
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["edges"][0]["node"]["actionPath"] is None  # no path given

    read_id = first["edges"][1]["node"]["id"]
    marked = await mutate(any_api, MARK_READ, alice, input={"ids": [read_id]})
    assert marked == {
        "__typename": "MarkNotificationsReadPayload",
        "ids": [read_id],
        "all": False,
        "unreadCount": 4,
        "unseenCount": 4,
    }
    unread = await feed(any_api, alice, unreadOnly=True)
    assert unread["totalCount"] == 4
    assert read_id not in [e["node"]["id"] for e in unread["edges"]]

    bad = await any_api.gql(
        'query { notifications(after: "nope") { totalCount } }', token=alice.token
    )
    assert bad.body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert bad.body["errors"][0]["message"] == "`after` is not a cursor from this list."


async def test_mark_read_up_to_a_cursor_and_all(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    for n in range(4):
        await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": f"N{n}"})
    edges = (await feed(any_api, alice))["edges"]
    # Up to N2: N2, N1 and N0 become read; N3 (newer) stays unread.
    marked = await mutate(any_api, MARK_READ, alice, input={"upTo": edges[1]["cursor"]})
    assert sorted(marked["ids"]) == sorted(e["node"]["id"] for e in edges[1:])
    assert (marked["all"], marked["unreadCount"]) == (False, 1)
    after = (await feed(any_api, alice))["edges"]
    assert [e["node"]["readAt"] is not None for e in after] == [False, True, True, True]
    assert all(e["node"]["seenAt"] is not None for e in after[1:])  # read implies seen

    again = await mutate(any_api, MARK_READ, alice, input={"upTo": edges[1]["cursor"]})
    assert (again["ids"], again["unreadCount"]) == ([], 1)
    everything = await mutate(any_api, MARK_READ, alice, input={"all": True})
    assert everything == {
        "__typename": "MarkNotificationsReadPayload",
        "ids": [],
        "all": True,
        "unreadCount": 0,
        "unseenCount": 0,
    }
    assert (await any_api.gql(COUNT, token=alice.token)).data == {"unreadNotificationCount": 0}


async def test_seen_clears_the_badge_without_reading(any_api: Api) -> None:
    alice, bob = await person(any_api, "Alice"), await person(any_api, "Bob")
    await notify(any_api, [alice], actor=bob, group_key="g")
    await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": "Hello"})
    seen = await mutate(any_api, MARK_SEEN, alice)
    assert seen == {"__typename": "NotificationCountsPayload", "unreadCount": 2, "unseenCount": 0}
    nodes = [e["node"] for e in (await feed(any_api, alice))["edges"]]
    assert all(n["seenAt"] is not None and n["readAt"] is None for n in nodes)
    # A seen entry that grows is news again.
    carol = await person(any_api, "Carol")
    await notify(any_api, [alice], actor=carol, group_key="g")
    grown = (await feed(any_api, alice))["edges"][0]["node"]
    assert (grown["title"], grown["seenAt"]) == ("Carol and 1 other replied to you", None)
    assert (await mutate(any_api, MARK_SEEN, alice))["unseenCount"] == 0


async def test_delete_and_clear(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    for n in range(3):
        await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": f"N{n}"})
    ids = [e["node"]["id"] for e in (await feed(any_api, alice))["edges"]]
    deleted = await mutate(any_api, DELETE, alice, id=ids[0])
    assert deleted == {
        "__typename": "DeleteNotificationPayload",
        "deletedId": ids[0],
        "unreadCount": 2,
        "unseenCount": 2,
    }
    again = await mutate(any_api, DELETE, alice, id=ids[0])
    assert again == _error("NotFound", "NOT_FOUND", "Notification not found.", "id")
    cleared = await mutate(any_api, CLEAR, alice)
    assert cleared == {"__typename": "ClearNotificationsPayload", "deletedCount": 2}
    assert (await feed(any_api, alice))["totalCount"] == 0


async def test_only_your_own_notifications(any_api: Api) -> None:
    alice, mallory = await person(any_api, "Alice"), await person(any_api, "Mallory")
    await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": "Private"})
    edge = (await feed(any_api, alice))["edges"][0]
    mine = edge["node"]["id"]
    not_found = _error("NotFound", "NOT_FOUND", "Notification not found.", "ids")
    assert await mutate(any_api, MARK_READ, mallory, input={"ids": [mine]}) == not_found
    missing = str(uuid.uuid4())
    assert await mutate(any_api, MARK_READ, alice, input={"ids": [mine, missing]}) == not_found
    assert await mutate(any_api, MARK_READ, alice, input={"ids": ["junk"]}) == not_found
    assert await mutate(any_api, DELETE, mallory, id=mine) == _error(
        "NotFound", "NOT_FOUND", "Notification not found.", "id"
    )
    # Mallory's `upTo` with Alice's cursor and `all` touch only Mallory's (none).
    up_to = await mutate(any_api, MARK_READ, mallory, input={"upTo": edge["cursor"]})
    assert (up_to["ids"], up_to["unreadCount"]) == ([], 0)
    assert (await mutate(any_api, CLEAR, mallory))["deletedCount"] == 0
    assert (await feed(any_api, mallory))["totalCount"] == 0
    assert (await feed(any_api, alice))["edges"][0]["node"]["readAt"] is None


async def test_anonymous_is_not_authenticated(any_api: Api) -> None:
    assert await feed(any_api, None) is None
    count = await any_api.gql(COUNT)
    assert count.body["errors"][0]["extensions"]["code"] == "NOT_AUTHENTICATED"
    assert count.body["data"] is None
    expected = {
        "__typename": "NotAuthenticated",
        "code": "NOT_AUTHENTICATED",
        "message": "You need to sign in.",
    }
    read = await mutate(any_api, MARK_READ, None, input={"all": True})
    assert read == {**expected, "field": None}
    assert await mutate(any_api, MARK_SEEN, None) == expected
    assert await mutate(any_api, DELETE, None, id=str(uuid.uuid4())) == {**expected, "field": None}
    assert await mutate(any_api, CLEAR, None) == expected


async def test_mark_read_takes_exactly_one_selector(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    one = _error("ValidationError", "VALIDATION", "Give exactly one of ids, upTo and all.", None)
    assert await mutate(any_api, MARK_READ, alice, input={}) == one
    assert await mutate(any_api, MARK_READ, alice, input={"ids": [], "all": True}) == one
    too_many = [str(uuid.uuid4()) for _ in range(101)]
    assert await mutate(any_api, MARK_READ, alice, input={"ids": too_many}) == _error(
        "ValidationError", "VALIDATION", "At most 100 ids at a time.", "ids"
    )
    assert await mutate(any_api, MARK_READ, alice, input={"upTo": "x"}) == _error(
        "ValidationError", "VALIDATION", "`upTo` is not a cursor from this list.", "upTo"
    )


async def test_concurrent_notifies_of_one_group_collapse(any_api: Api) -> None:
    """Racing producers (separate transactions) never make two unread entries of a group."""
    alice = await person(any_api, "Alice")
    actors = [await person(any_api, f"Fan {n}") for n in range(6)]
    await asyncio.gather(
        *(notify(any_api, [alice], actor=actor, group_key="reply:race") for actor in actors)
    )
    page = await feed(any_api, alice)
    assert page["totalCount"] == 1
    node = page["edges"][0]["node"]
    assert node["actorCount"] == 6
    assert node["title"] == f"{node['actor']['displayName']} and 5 others replied to you"


async def test_expired_notifications_are_neither_listed_nor_counted(any_api: Api) -> None:
    alice = await person(any_api, "Alice")
    await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": "Old"})
    await notify(any_api, [alice], "ANNOUNCEMENT", data={"title": "New"})
    old = next(e for e in (await feed(any_api, alice))["edges"] if e["node"]["title"] == "Old")
    async with any_api.state.unit_of_work() as uow:
        await uow.session.execute(
            update(Notification)
            .where(Notification.id == uuid.UUID(old["node"]["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page = await feed(any_api, alice)
    assert [e["node"]["title"] for e in page["edges"]] == ["New"]
    assert page["totalCount"] == 1
    assert (await any_api.gql(COUNT, token=alice.token)).data == {"unreadNotificationCount": 1}
    marked = await mutate(any_api, MARK_READ, alice, input={"ids": [old["node"]["id"]]})
    assert marked["__typename"] == "NotFound"


async def test_text_is_cut_to_banner_size(any_api: Api) -> None:
    alice, bob = await person(any_api, "Alice"), await person(any_api, "Bob")
    title = "A very long party title " * 6
    await notify(
        any_api,
        [alice],
        "PARTY_INVITE",
        actor=bob,
        data={"partyId": "p9", "partyTitle": title, "excerpt": "x"},
    )
    announcement = {"title": "T", "body": "line one\nline two " + "word " * 60, "path": "/x"}
    await notify(any_api, [alice], "ANNOUNCEMENT", data=announcement)
    announced, invite = [e["node"] for e in (await feed(any_api, alice))["edges"]]
    expected = f"Bob invited you to {title}"[:79].rstrip() + "…"
    assert (invite["title"], len(invite["title"])) == (expected, len(expected))
    assert len(invite["title"]) <= 80
    assert (invite["body"], invite["actionPath"]) == ("Join the party.", "/parties/p9")
    assert len(announced["body"]) == 180 and announced["body"].endswith("…")
    assert announced["body"].startswith("line one line two word word")
    assert (announced["title"], announced["actionPath"]) == ("T", "/x")


async def test_notify_writes_a_batch_in_a_fixed_number_of_statements(api: Api) -> None:
    """Rows of one batch take one INSERT (and, for grown groups, one locking SELECT and one
    UPDATE) and one SELECT of the counts, however many recipients it has (PostgreSQL)."""
    actor = await person(api, "Bob")
    few = [await person(api, f"Few {n}") for n in range(2)]
    many = [await person(api, f"Many {n}") for n in range(12)]

    async def feed_statements(people: list[Person], group_key: str | None) -> list[str]:
        async with counting(api) as statements:
            await notify(api, people, actor=actor, group_key=group_key)
        return [s.split()[0] for s in statements if "notifications" in s.split("(")[0]]

    assert (
        await feed_statements(few, None)
        == await feed_statements(many, None)
        == ["INSERT", "SELECT"]
    )
    await feed_statements(few, "g")
    await feed_statements(many, "g")
    grown_few = await feed_statements(few, "g")
    assert grown_few == await feed_statements(many, "g") == ["INSERT", "SELECT", "UPDATE", "SELECT"]
    assert (await feed(api, many[0]))["edges"][0]["node"]["actorCount"] == 1
