"""Polls over GraphQL: create, vote, change, withdraw, close, auto-close, list, stream events.

Helpers here (names without `test_`) are shared with tests/test_polls_authz.py.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from tests.parties_ops import (
    Person,
    cast,
    create_party,
    error,
    joined,
    party_events,
    person,
)
from tests.support import Api, foreground, graphql_socket, live_server, make_settings, running_app
from tests.test_party_stream_support import PartyStream
from watchparty.polls.events import PollChanged

USER = "id displayName"
POLL = (
    "id question options { id text votes } allowsMultiple status closesAt closedAt "
    f"createdBy {{ {USER} }} totalVoters totalVotes myOptionIds createdAt"
)
ERRORS = "... on UserError { code message field }"
INPUTS = {
    "createPoll": "CreatePollInput",
    "votePoll": "VotePollInput",
    "closePoll": "ClosePollInput",
}


async def poll_op(api: Api, name: str, token: str | None, **input: Any) -> dict[str, Any]:
    """Run poll mutation `name`; the union member with its __typename."""
    extra = "... on PollClosed { closedAt }" if name == "votePoll" else ""
    query = (
        f"mutation($input: {INPUTS[name]}!) {{ {name}(input: $input) {{ __typename "
        f"... on PollPayload {{ poll {{ {POLL} }} }} {ERRORS} {extra} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=token)
    answer: dict[str, Any] = result.data[name]
    return answer


async def new_poll(
    api: Api, who: Person, party_id: str, options: list[str] | None = None, **input: Any
) -> dict[str, Any]:
    input.setdefault("question", "Pizza or tacos?")
    answer = await poll_op(
        api,
        "createPoll",
        who.token,
        partyId=party_id,
        options=options or ["Pizza", "Tacos"],
        **input,
    )
    assert answer["__typename"] == "PollPayload", answer
    poll: dict[str, Any] = answer["poll"]
    return poll


async def vote(api: Api, who: Person, poll_id: str, *option_ids: str) -> dict[str, Any]:
    return await poll_op(api, "votePoll", who.token, pollId=poll_id, optionIds=list(option_ids))


async def voted(api: Api, who: Person, poll_id: str, *option_ids: str) -> dict[str, Any]:
    answer = await vote(api, who, poll_id, *option_ids)
    assert answer["__typename"] == "PollPayload", answer
    poll: dict[str, Any] = answer["poll"]
    return poll


async def party_polls(
    api: Api, token: str | None, party_id: str, fields: str = POLL, **args: Any
) -> Any:
    result = await api.gql(
        "query($id: ID!, $first: Int, $after: String, $status: PollStatus) { party(id: $id) { "
        "polls(first: $first, after: $after, status: $status) { totalCount "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } "
        f"edges {{ cursor node {{ {fields} }} }} }} }} }}",
        {"id": party_id, "first": 10, **args},  # options count x100 in the query cost
        token=token,
    )
    party = result.data["party"]
    return None if party is None else party["polls"]


def counts(poll: dict[str, Any]) -> list[int]:
    return [option["votes"] for option in poll["options"]]


def user(who: Person) -> dict[str, str]:
    return {"id": who.id, "displayName": who.name}


async def poll_events(api: Api, party_id: str) -> list[dict[str, Any]]:
    return [e.poll for e in await party_events(api, party_id) if isinstance(e, PollChanged)]


# -- create --------------------------------------------------------------------------------------


async def test_a_moderator_creates_a_poll(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.moderator, party_id, ["  Pizza ", "Tacos", "Sushi"])
    option_ids = [option["id"] for option in poll["options"]]
    assert poll == {
        "id": poll["id"],
        "question": "Pizza or tacos?",
        "options": [
            {"id": option_ids[0], "text": "Pizza", "votes": 0},
            {"id": option_ids[1], "text": "Tacos", "votes": 0},
            {"id": option_ids[2], "text": "Sushi", "votes": 0},
        ],
        "allowsMultiple": False,
        "status": "OPEN",
        "closesAt": None,
        "closedAt": None,
        "createdBy": user(people.moderator),
        "totalVoters": 0,
        "totalVotes": 0,
        "myOptionIds": [],
        "createdAt": poll["createdAt"],
    }
    assert len(set(option_ids)) == 3
    stored = await poll_events(any_api, party_id)
    assert [p["id"] for p in stored] == [poll["id"]]
    assert [o["votes"] for o in stored[0]["options"]] == [0, 0, 0]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"question": ""}, "question", "The question must be 1 to 300 characters."),
        ({"question": "   "}, "question", "The question must be 1 to 300 characters."),
        ({"question": "?" * 301}, "question", "The question must be 1 to 300 characters."),
        ({"options": ["Only"]}, "options", "A poll has 2 to 10 options."),
        ({"options": [str(n) for n in range(11)]}, "options", "A poll has 2 to 10 options."),
        ({"options": ["Yes", " "]}, "options", "Option 2 must be 1 to 100 characters."),
        ({"options": ["Yes", "n" * 101]}, "options", "Option 2 must be 1 to 100 characters."),
        ({"options": ["Yes", "No", "yES "]}, "options", "Option 3 repeats another one."),
        ({"closesAt": "past"}, "closesAt", "The closing time must be in the future."),
        ({"closesAt": "8 days"}, "closesAt", "A poll stays open at most 7 days."),
    ],
)
async def test_create_poll_validation(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    host = await person(api, "Host")
    party_id = (await create_party(api, host))["id"]
    input: dict[str, Any] = {"question": "Which?", "options": ["A", "B"], **change}
    now = datetime.now(UTC)
    if input.get("closesAt") == "past":
        input["closesAt"] = (now - timedelta(seconds=1)).isoformat()
    elif input.get("closesAt") == "8 days":
        input["closesAt"] = (now + timedelta(days=8)).isoformat()
    answer = await poll_op(api, "createPoll", host.token, partyId=party_id, **input)
    assert answer == error("ValidationError", "VALIDATION", message, field)
    assert await poll_events(api, party_id) == []
    assert (await party_polls(api, host.token, party_id))["totalCount"] == 0


async def test_the_poll_policy_decides_who_creates(any_api: Api) -> None:
    strict = await cast(any_api)  # pollPolicy MODERATORS by default
    refused = await poll_op(
        any_api,
        "createPoll",
        strict.member.token,
        partyId=strict.party["id"],
        question="Q?",
        options=["A", "B"],
    )
    assert refused == error(
        "NotAllowed", "NOT_ALLOWED", "Only a moderator or above can create polls in this party."
    )
    open_party = await cast(any_api, pollPolicy="EVERYONE")
    poll = await new_poll(any_api, open_party.member, open_party.party["id"])
    assert poll["createdBy"] == user(open_party.member)


# -- vote ----------------------------------------------------------------------------------------


async def test_vote_change_repeat_and_withdraw(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.host, party_id)
    pizza, tacos = (option["id"] for option in poll["options"])

    first = await voted(any_api, people.member, poll["id"], pizza)
    assert (counts(first), first["totalVoters"], first["totalVotes"]) == ([1, 0], 1, 1)
    assert first["myOptionIds"] == [pizza]
    other = await voted(any_api, people.moderator, poll["id"], pizza)
    assert (counts(other), other["totalVoters"], other["myOptionIds"]) == ([2, 0], 2, [pizza])

    changed = await voted(any_api, people.member, poll["id"], tacos)
    assert (counts(changed), changed["totalVoters"], changed["totalVotes"]) == ([1, 1], 2, 2)
    assert changed["myOptionIds"] == [tacos]
    events_before = len(await poll_events(any_api, party_id))
    repeated = await voted(any_api, people.member, poll["id"], tacos)
    assert (counts(repeated), repeated["myOptionIds"]) == ([1, 1], [tacos])
    assert len(await poll_events(any_api, party_id)) == events_before  # nothing changed

    withdrawn = await voted(any_api, people.member, poll["id"])
    assert (counts(withdrawn), withdrawn["totalVoters"], withdrawn["totalVotes"]) == ([1, 0], 1, 1)
    assert withdrawn["myOptionIds"] == []

    # Every viewer reads their own choice; the counts are the same for everyone.
    for who, mine in ((people.moderator, [pizza]), (people.member, []), (people.host, [])):
        listed = (await party_polls(any_api, who.token, party_id))["edges"][0]["node"]
        assert (listed["myOptionIds"], counts(listed), listed["totalVoters"]) == (mine, [1, 0], 1)
    stored = await poll_events(any_api, party_id)
    assert [[o["votes"] for o in p["options"]] for p in stored] == [
        [0, 0],
        [1, 0],
        [2, 0],
        [1, 1],
        [1, 0],
    ]


async def test_multiple_choice(any_api: Api) -> None:
    people = await cast(any_api)
    poll = await new_poll(
        any_api, people.host, people.party["id"], ["A", "B", "C"], allowsMultiple=True
    )
    a, b, c = (option["id"] for option in poll["options"])
    both = await voted(any_api, people.member, poll["id"], c, a)
    assert both["myOptionIds"] == [a, c]  # option order, whatever the order sent
    assert (counts(both), both["totalVoters"], both["totalVotes"]) == ([1, 0, 1], 1, 2)
    one = await voted(any_api, people.cohost, poll["id"], b)
    assert (counts(one), one["totalVoters"], one["totalVotes"]) == ([1, 1, 1], 2, 3)
    dup = await vote(any_api, people.member, poll["id"], a, a)
    assert dup == error(
        "ValidationError", "VALIDATION", "Choose each option at most once.", "optionIds"
    )


async def test_vote_validation(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.host, party_id)
    other = await new_poll(any_api, people.host, party_id, ["X", "Y"])
    pizza, tacos = (option["id"] for option in poll["options"])
    one = error("ValidationError", "VALIDATION", "This poll takes exactly one option.", "optionIds")
    among = error("ValidationError", "VALIDATION", "Choose among this poll's options.", "optionIds")
    assert await vote(any_api, people.member, poll["id"], pizza, tacos) == one
    assert await vote(any_api, people.member, poll["id"], other["options"][0]["id"]) == among
    assert await vote(any_api, people.member, poll["id"], "not-an-id") == among
    missing = error("NotFound", "NOT_FOUND", "Poll not found.", "pollId")
    assert await vote(any_api, people.member, "not-an-id", pizza) == missing
    assert await vote(any_api, people.member, party_id, pizza) == missing
    listed = (await party_polls(any_api, people.member.token, party_id))["edges"][1]["node"]
    assert (counts(listed), listed["totalVoters"], listed["myOptionIds"]) == ([0, 0], 0, [])


async def test_concurrent_votes_count_exactly_on_postgres(api: Api) -> None:
    host = await person(api, "Host")
    party = await create_party(api, host)
    voters = []
    for n in range(20):
        who = await person(api, f"Voter {n}")
        await joined(api, who, code=party["code"])
        voters.append(who)
    poll = await new_poll(api, host, party["id"], ["A", "B", "C"], allowsMultiple=True)
    ids = [option["id"] for option in poll["options"]]

    answers = await asyncio.gather(
        *(vote(api, who, poll["id"], ids[n % 3]) for n, who in enumerate(voters))
    )
    assert [a["__typename"] for a in answers] == ["PollPayload"] * 20
    # Everyone changes at once: all to A and C.
    answers = await asyncio.gather(*(vote(api, who, poll["id"], ids[0], ids[2]) for who in voters))
    assert [a["__typename"] for a in answers] == ["PollPayload"] * 20
    final = (await party_polls(api, host.token, party["id"]))["edges"][0]["node"]
    assert (counts(final), final["totalVoters"], final["totalVotes"]) == ([20, 0, 20], 20, 40)
    stored = await poll_events(api, party["id"])
    assert len(stored) == 41  # created, then one per ballot change
    # Serialized: every change saw the previous one (each adds exactly one vote).
    assert sorted(p["totalVotes"] for p in stored) == list(range(41))


# -- close -----------------------------------------------------------------------------------------


async def test_close_then_votes_are_refused(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.moderator, party_id)
    pizza = poll["options"][0]["id"]
    await voted(any_api, people.member, poll["id"], pizza)

    closed = await poll_op(any_api, "closePoll", people.moderator.token, pollId=poll["id"])
    assert closed["__typename"] == "PollPayload", closed
    closed_poll = closed["poll"]
    assert (closed_poll["status"], counts(closed_poll)) == ("CLOSED", [1, 0])
    assert closed_poll["closedAt"] is not None
    refused = await vote(any_api, people.member, poll["id"], pizza)
    assert refused == {
        **error("PollClosed", "POLL_CLOSED", "This poll is closed.", "pollId"),
        "closedAt": closed_poll["closedAt"],
    }
    events = len(await poll_events(any_api, party_id))
    again = await poll_op(any_api, "closePoll", people.host.token, pollId=poll["id"])
    assert again["poll"]["closedAt"] == closed_poll["closedAt"]
    assert len(await poll_events(any_api, party_id)) == events
    listed = (await party_polls(any_api, people.member.token, party_id))["edges"][0]["node"]
    assert (listed["status"], listed["myOptionIds"]) == ("CLOSED", [pizza])


async def wait_for_close(api: Api, party_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await api.drain_jobs()
        closed = [p for p in await poll_events(api, party_id) if p["closedAt"] is not None]
        if closed:
            return closed[0]
        assert asyncio.get_running_loop().time() < deadline, "the poll never closed"
        await asyncio.sleep(0.1)


async def test_the_job_closes_a_poll_at_closes_at(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    closes_at = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    poll = await new_poll(any_api, people.host, party_id, closesAt=closes_at)
    assert poll["status"] == "OPEN"
    stored = await wait_for_close(any_api, party_id)
    assert stored["closedAt"] == stored["closesAt"]
    listed = (await party_polls(any_api, people.host.token, party_id))["edges"][0]["node"]
    assert listed["status"] == "CLOSED"
    assert datetime.fromisoformat(listed["closedAt"]) == datetime.fromisoformat(closes_at)
    refused = await vote(any_api, people.member, poll["id"], poll["options"][0]["id"])
    assert refused["__typename"] == "PollClosed"
    # The job closed it once: one creation event and one close event.
    assert [p["closedAt"] is not None for p in await poll_events(any_api, party_id)] == [
        False,
        True,
    ]


async def test_a_poll_past_closes_at_reads_closed_before_the_job_runs(api: Api) -> None:
    from watchparty.polls.models import Poll

    people = await cast(api)
    party_id = people.party["id"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    poll = await new_poll(api, people.host, party_id, closesAt=later)
    past = datetime.now(UTC) - timedelta(seconds=5)
    async with api.state.sessionmaker() as session:  # as if the job were a day late
        await session.execute(update(Poll).where(Poll.id == poll["id"]).values(closes_at=past))
        await session.commit()
    listed = (await party_polls(api, people.host.token, party_id))["edges"][0]["node"]
    assert listed["status"] == "CLOSED"
    assert datetime.fromisoformat(listed["closedAt"]) == past
    refused = await vote(api, people.member, poll["id"], poll["options"][0]["id"])
    assert refused["__typename"] == "PollClosed"
    assert datetime.fromisoformat(refused["closedAt"]) == past
    assert (await party_polls(api, people.host.token, party_id, status="OPEN"))["totalCount"] == 0


# -- list ------------------------------------------------------------------------------------------


async def test_party_polls_newest_first_with_pages_and_status(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    made = [await new_poll(any_api, people.host, party_id, question=f"Q{n}?") for n in range(3)]
    await poll_op(any_api, "closePoll", people.host.token, pollId=made[1]["id"])

    page = await party_polls(any_api, people.member.token, party_id, "question", first=2)
    assert [e["node"]["question"] for e in page["edges"]] == ["Q2?", "Q1?"]
    assert page["totalCount"] == 3
    info = page["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    assert (info["startCursor"], info["endCursor"]) == (
        page["edges"][0]["cursor"],
        page["edges"][1]["cursor"],
    )
    rest = await party_polls(
        any_api, people.member.token, party_id, "question", first=2, after=info["endCursor"]
    )
    assert [e["node"]["question"] for e in rest["edges"]] == ["Q0?"]
    assert (rest["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasPreviousPage"]) == (False, True)

    opened = await party_polls(any_api, people.member.token, party_id, "question", status="OPEN")
    assert [e["node"]["question"] for e in opened["edges"]] == ["Q2?", "Q0?"]
    assert opened["totalCount"] == 2
    shut = await party_polls(any_api, people.member.token, party_id, "question", status="CLOSED")
    assert [e["node"]["question"] for e in shut["edges"]] == ["Q1?"]

    bad = await any_api.gql(
        'query($id: ID!) { party(id: $id) { polls(after: "nope") { totalCount } } }',
        {"id": party_id},
        token=people.member.token,
    )
    assert bad.body["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert bad.body["errors"][0]["message"] == "`after` is not a cursor from this list."


# -- the stream ------------------------------------------------------------------------------------

STREAM = f"""
subscription($partyId: ID!) {{
  partyEvents(partyId: $partyId) {{
    cursor event {{ __typename ... on PollChanged {{ poll {{ {POLL} }} }} }}
  }}
}}
"""


async def open_stream(exits: AsyncExitStack, base: str, who: Person, party_id: str) -> PartyStream:
    socket = await exits.enter_async_context(graphql_socket(base))
    ack = await socket.init({"authorization": f"Bearer {who.token}"})
    assert ack["type"] == "connection_ack"
    stream = PartyStream(socket, await socket.subscribe(STREAM, {"partyId": party_id}))
    assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
    return stream


async def test_poll_changes_reach_the_stream_with_each_viewers_choice(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        member_stream = await open_stream(exits, base, people.member, party_id)
        host_stream = await open_stream(exits, base, people.host, party_id)

        poll = await new_poll(any_api, people.host, party_id)
        pizza = poll["options"][0]["id"]
        created = {s: await s.next_event("PresenceChanged") for s in (member_stream, host_stream)}
        for item in created.values():
            assert item["cursor"] is not None
            assert item["event"] == {"__typename": "PollChanged", "poll": poll}

        after_vote = await voted(any_api, people.member, poll["id"], pizza)
        seen_by_member = (await member_stream.next_event("PresenceChanged"))["event"]["poll"]
        seen_by_host = (await host_stream.next_event("PresenceChanged"))["event"]["poll"]
    assert seen_by_member == after_vote
    assert seen_by_member["myOptionIds"] == [pizza]
    assert seen_by_host == {**after_vote, "myOptionIds": []}
    assert counts(seen_by_host) == [1, 0]


# -- myOptionIds costs the same for 1 or 10 subscribers ------------------------------------------

MINE = """
subscription($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    event { __typename ... on PollChanged { poll { totalVoters myOptionIds } } }
  }
}
"""


async def statements_for_one_vote(api: Api, base: str, subscribers: int) -> int:
    host = await person(api, "Host")
    party = await create_party(api, host)
    voters = []
    for n in range(subscribers):
        who = await person(api, f"Voter {n}")
        await joined(api, who, code=party["code"])
        voters.append(who)
    poll = await new_poll(api, host, party["id"], ["A", "B", "C"])
    ids = [option["id"] for option in poll["options"]]
    for n, who in enumerate(voters):
        await voted(api, who, poll["id"], ids[n % 3])
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if foreground(statement):
            statements.append(statement)

    async with AsyncExitStack() as exits:
        streams = []
        for who in voters:
            socket = await exits.enter_async_context(graphql_socket(base))
            ack = await socket.init({"authorization": f"Bearer {who.token}"})
            assert ack["type"] == "connection_ack"
            stream = PartyStream(socket, await socket.subscribe(MINE, {"partyId": party["id"]}))
            assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
            streams.append(stream)
        engine = api.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await voted(api, voters[0], poll["id"], ids[2])  # voter 0 moves from A to C
            for n, stream in enumerate(streams):
                item = await stream.next_event("PresenceChanged")
                mine = [ids[2]] if n == 0 else [ids[n % 3]]
                assert item["event"]["poll"] == {"totalVoters": subscribers, "myOptionIds": mine}
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return len(statements)


@pytest.mark.parametrize("mode", ["postgres", "embedded"])
async def test_my_option_ids_cost_does_not_grow_with_subscribers(
    mode: str, pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(mode, database_url=pg_url, tmp=tmp_path, realtime_poll_seconds=0)
    async with running_app(settings) as api, live_server(api.app) as base:
        one = await statements_for_one_vote(api, base, 1)
        ten = await statements_for_one_vote(api, base, 10)
    assert ten == one
