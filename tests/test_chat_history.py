"""`party.messages`: newest-first pages, cursors, tombstones, who may read, and SQL statements
per page constant in the page size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from tests.chat_ops import (
    MESSAGE,
    bodies,
    chat,
    chat_api,  # noqa: F401 (fixture)
    history,
    send,
)
from tests.parties_ops import create_party, joined, mutate, person
from tests.support import Api, foreground, make_settings, running_app


async def _party_with(api: Api, count: int, **settings: Any) -> tuple[Any, str, list[dict]]:
    host = await person(api, "Host")
    party = await create_party(api, host, **settings)
    sent = [await send(api, host.token, party["id"], f"m{n}") for n in range(count)]
    return host, party["id"], sent


async def test_pages_go_backwards_newest_first(chat_api: Api) -> None:  # noqa: F811
    host, party_id, sent = await _party_with(chat_api, 25)
    first = await history(chat_api, host.token, party_id, last=10)
    assert bodies(first) == [f"m{n}" for n in range(24, 14, -1)]
    assert [e["cursor"] for e in first["edges"]] == [str(n) for n in range(25, 15, -1)]
    assert [e["cursor"] for e in first["edges"]] == [e["node"]["cursor"] for e in first["edges"]]
    assert first["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": "25",
        "endCursor": "16",
    }
    second = await history(chat_api, host.token, party_id, last=10, before="16")
    assert bodies(second) == [f"m{n}" for n in range(14, 4, -1)]
    third = await history(chat_api, host.token, party_id, last=10, before="6")
    assert bodies(third) == ["m4", "m3", "m2", "m1", "m0"]
    assert third["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": "5",
        "endCursor": "1",
    }
    empty = await history(chat_api, host.token, party_id, last=10, before="1")
    assert empty == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": True,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }
    assert [e["node"]["id"] for e in first["edges"]] == [m["id"] for m in reversed(sent[15:])]


async def test_default_page_is_50_and_pages_are_capped_at_100(chat_api: Api) -> None:  # noqa: F811
    host, party_id, _ = await _party_with(chat_api, 105)
    default = await history(chat_api, host.token, party_id, last=None, fields="id")
    assert len(default["edges"]) == 50
    capped = await history(chat_api, host.token, party_id, last=500, fields="id")
    assert len(capped["edges"]) == 100
    assert capped["pageInfo"]["hasPreviousPage"] is True


async def test_bad_paging_arguments_are_validation_errors(api: Api) -> None:
    host, party_id, _ = await _party_with(api, 1)
    query = (
        "query($id: ID!, $last: Int, $before: String) { party(id: $id) { id "
        "messages(last: $last, before: $before) { edges { cursor } } } }"
    )
    for variables, message in (
        ({"before": "abc"}, "`before` is not a cursor of this party's messages."),
        ({"before": "-3"}, "`before` is not a cursor of this party's messages."),
        ({"last": -1}, "`last` must not be negative."),
    ):
        result = await api.gql(query, {"id": party_id, **variables}, token=host.token)
        (problem,) = result.body["errors"]
        assert problem["message"] == message
        assert problem["extensions"] == {"code": "VALIDATION"}
        assert problem["path"] == ["party", "messages"]
        assert result.body["data"] == {"party": {"id": party_id, "messages": None}}


async def test_tombstones_stay_in_history(any_api: Api) -> None:
    host, party_id, sent = await _party_with(any_api, 3)
    await chat(any_api, "deleteMessage", host.token, messageId=sent[1]["id"])
    page = await history(any_api, host.token, party_id)
    assert bodies(page) == ["m2", None, "m0"]
    assert [e["node"]["deleted"] for e in page["edges"]] == [False, True, False]


async def test_who_may_read_messages(any_api: Api) -> None:
    anonymous = None
    for visibility, stranger_reads in (("PUBLIC", True), ("UNLISTED", False)):
        host, party_id, _ = await _party_with(any_api, 2, visibility=visibility)
        stranger = await person(any_api, "Stranger")
        assert await history(any_api, anonymous, party_id) is None
        page = await history(any_api, stranger.token, party_id)
        assert (page is not None) is stranger_reads
        if page is not None:
            assert bodies(page) == ["m1", "m0"]
    host, party_id, _ = await _party_with(any_api, 1, visibility="UNLISTED")
    member = await person(any_api, "Member")
    party = await any_api.gql(
        "query($id: ID!) { party(id: $id) { code } }", {"id": party_id}, token=host.token
    )
    await joined(any_api, member, code=party.data["party"]["code"])
    assert bodies(await history(any_api, member.token, party_id)) == ["m0"]
    left = await mutate(any_api, "leaveParty", member.token, partyId=party_id)
    assert left["__typename"] == "LeavePartyPayload"
    assert await history(any_api, member.token, party_id) is None
    # PRIVATE: the party itself is invisible to strangers (null, like a missing one).
    _, private_id, _ = await _party_with(any_api, 1, visibility="PRIVATE")
    result = await any_api.gql(
        "query($id: ID!) { party(id: $id) { messages { edges { cursor } } } }",
        {"id": private_id},
        token=member.token,
    )
    assert result.data == {"party": None}


async def _statements_for_page(api: Api, token: str, party_id: str, last: int) -> int:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if foreground(statement):
            statements.append(statement)

    engine = api.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = await history(api, token, party_id, last=last, fields=MESSAGE)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(page["edges"]) == last
    return len(statements)


async def test_sql_statements_per_page_do_not_grow_with_its_size(
    pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        rate_limit_chat="100000/10",
        rate_limit_reactions="100000/10",
        realtime_poll_seconds=0,  # no background polling: every statement is the page's
        graphql_max_cost=100_000,  # the cost model prices `reactions` as a list of 100
    )
    async with running_app(settings, worker=False) as api:
        host = await person(api, "Host")
        party = await create_party(api, host)
        guests = []
        for n in range(3):
            guest = await person(api, f"Guest {n}")
            await joined(api, guest, code=party["code"])
            guests.append(guest)
        previous = None
        for n in range(60):  # authors, replies and reactions on every message
            who = guests[n % 3]
            extra = {} if previous is None else {"replyToId": previous}
            message = await send(api, who.token, party["id"], f"m{n}", **extra)
            await chat(api, "reactToMessage", host.token, messageId=message["id"], emoji="🔥")
            previous = message["id"]
        small = await _statements_for_page(api, host.token, party["id"], 5)
        large = await _statements_for_page(api, host.token, party["id"], 50)
    assert small == large
    assert large <= 8, large
