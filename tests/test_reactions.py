"""Live reactions over GraphQL: send, refuse, rate limit, fan out, count; and the host's stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.parties_ops import (
    NOT_AUTHENTICATED,
    Cast,
    Person,
    cast,
    error,
    joined,
    mutate,
    person,
)
from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from tests.test_party_stream_support import PartyStream

MEDIA = {"url": "https://videos.example.com/film.mp4", "title": "Film", "durationSeconds": 600}
REACTION = "id emoji user { id displayName } itemId videoPositionSeconds x y sentAt"
STATS = (
    "reactionStats { total byEmoji { emoji count } "
    "hotSpots(limit: $limit) { itemId positionSeconds bucketSeconds count topEmoji } }"
)
NOT_MEMBER = error("NotAllowed", "NOT_ALLOWED", "Only members of this party can do that.")


async def react(
    api: Api,
    who: Person | None,
    party_id: str,
    emoji: str = "🔥",
    position: float = 12.5,
    x: float = 0.25,
    y: float = 0.75,
) -> dict[str, Any]:
    result = await api.gql(
        "mutation($input: SendReactionInput!) { sendReaction(input: $input) { __typename "
        f"... on SendReactionPayload {{ reaction {{ {REACTION} }} }} "
        "... on UserError { code message field } ... on RateLimited { retryAfterSeconds } } }",
        {
            "input": {
                "partyId": party_id,
                "emoji": emoji,
                "videoPositionSeconds": position,
                "x": x,
                "y": y,
            }
        },
        token=None if who is None else who.token,
    )
    answer: dict[str, Any] = result.data["sendReaction"]
    return answer


async def stats(api: Api, who: Person | None, party_id: str, limit: int = 10) -> Any:
    result = await api.gql(
        f"query($id: ID!, $limit: Int!) {{ party(id: $id) {{ {STATS} }} }}",
        {"id": party_id, "limit": limit},
        token=None if who is None else who.token,
    )
    return result.data["party"]["reactionStats"]


async def current_item(api: Api, who: Person, party_id: str) -> str:
    result = await api.gql(
        "query($id: ID!) { party(id: $id) { playback { item { id } } } }",
        {"id": party_id},
        token=who.token,
    )
    item_id: str = result.data["party"]["playback"]["item"]["id"]
    return item_id


def spot(item_id: str, position: float, count: int, top: str) -> dict[str, Any]:
    return {
        "itemId": item_id,
        "positionSeconds": position,
        "bucketSeconds": 5,
        "count": count,
        "topEmoji": top,
    }


async def test_a_member_sends_a_reaction(any_api: Api) -> None:
    people = await cast(any_api, media=MEDIA)
    party_id = people.party["id"]
    item_id = await current_item(any_api, people.host, party_id)
    answer = await react(any_api, people.member, party_id, "🔥", 12.5, 0.25, 0.75)
    assert answer["__typename"] == "SendReactionPayload", answer
    reaction = answer["reaction"]
    assert reaction == {
        "id": reaction["id"],
        "emoji": "🔥",
        "user": {"id": people.member.id, "displayName": "Member"},
        "itemId": item_id,
        "videoPositionSeconds": 12.5,
        "x": 0.25,
        "y": 0.75,
        "sentAt": reaction["sentAt"],
    }
    edges = await react(any_api, people.member, party_id, "❤️", 0, 0, 1)
    assert edges["__typename"] == "SendReactionPayload", edges  # 0 and 1 are in range
    assert edges["reaction"]["id"] != reaction["id"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"emoji": "🦄"}, "emoji", "This emoji is not allowed (see allowedEmoji)."),
        ({"emoji": ""}, "emoji", "This emoji is not allowed (see allowedEmoji)."),
        ({"position": -0.5}, "videoPositionSeconds", "The position must be 0 to 1e+06 seconds."),
        ({"position": 2e6}, "videoPositionSeconds", "The position must be 0 to 1e+06 seconds."),
        ({"x": -0.01}, "x", "x must be between 0 and 1."),
        ({"x": 1.01}, "x", "x must be between 0 and 1."),
        ({"y": 2}, "y", "y must be between 0 and 1."),
    ],
)
async def test_bad_reactions_are_refused_and_not_counted(
    api: Api, change: dict[str, Any], field: str, message: str
) -> None:
    host = await person(api, "Host")
    people_party = await mutate(api, "createParty", host.token, title="Night", media=MEDIA)
    party_id = people_party["party"]["id"]
    answer = await react(api, host, party_id, **change)
    assert answer == error("ValidationError", "VALIDATION", message, field)
    assert await stats(api, host, party_id) == {"total": 0, "byEmoji": [], "hotSpots": []}


async def test_reactions_disabled(any_api: Api) -> None:
    people = await cast(any_api, reactionsEnabled=False)
    answer = await react(any_api, people.host, people.party["id"])
    assert answer == error(
        "ReactionsDisabled", "REACTIONS_DISABLED", "Reactions are turned off in this party."
    )
    assert (await stats(any_api, people.host, people.party["id"]))["total"] == 0


async def test_send_reaction_matrix(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    assert await react(any_api, None, party_id) == NOT_AUTHENTICATED
    assert await react(any_api, people.stranger, party_id) == NOT_MEMBER
    for who in (people.member, people.moderator, people.cohost, people.host):
        answer = await react(any_api, who, party_id)
        assert answer["__typename"] == "SendReactionPayload", (who.name, answer)
        assert answer["reaction"]["itemId"] is None  # nothing in the queue
    private = await cast(any_api, visibility="PRIVATE")
    answer = await react(any_api, private.stranger, private.party["id"])
    assert answer == error("NotFound", "NOT_FOUND", "Party not found.")
    ended = await mutate(any_api, "endParty", people.host.token, partyId=party_id)
    assert ended["__typename"] == "PartyPayload", ended
    answer = await react(any_api, people.member, party_id)
    assert answer == error("PartyEndedError", "PARTY_ENDED", "This party has ended.")


async def test_only_the_host_and_cohosts_read_stats(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    await react(any_api, people.member, party_id, "👍")
    seen = {}
    for name in ("stranger", "member", "moderator", "cohost", "host"):
        seen[name] = await stats(any_api, getattr(people, name), party_id)
    seen["anonymous"] = await stats(any_api, None, party_id)
    expected = {"total": 1, "byEmoji": [{"emoji": "👍", "count": 1}], "hotSpots": []}
    assert seen == {
        "stranger": None,
        "member": None,
        "moderator": None,
        "cohost": expected,
        "host": expected,
        "anonymous": None,
    }


async def test_stats_count_per_emoji_and_position(any_api: Api) -> None:
    people = await cast(any_api, media=MEDIA)
    party_id = people.party["id"]
    first_item = await current_item(any_api, people.host, party_id)
    sends = [
        (people.member, "🔥", 12.5),
        (people.moderator, "🔥", 14.9),
        (people.cohost, "😂", 10.0),
        (people.member, "😂", 61.0),
        (people.host, "👍", 9.99),
        (people.host, "😂", 60.0),
        (people.cohost, "😂", 64.0),
    ]
    for who, emoji, position in sends:
        answer = await react(any_api, who, party_id, emoji, position)
        assert answer["__typename"] == "SendReactionPayload", answer
    result = await stats(any_api, people.host, party_id)
    assert result == {
        "total": 7,
        "byEmoji": [
            {"emoji": "😂", "count": 4},
            {"emoji": "🔥", "count": 2},
            {"emoji": "👍", "count": 1},
        ],
        # Busiest first; a tie goes to the earlier stretch.
        "hotSpots": [
            spot(first_item, 10.0, 3, "🔥"),  # two 🔥 and a 😂
            spot(first_item, 60.0, 3, "😂"),
            spot(first_item, 5.0, 1, "👍"),
        ],
    }
    top = await stats(any_api, people.host, party_id, limit=1)
    assert [spot["count"] for spot in top["hotSpots"]] == [3]
    none = await stats(any_api, people.host, party_id, limit=0)
    assert none["hotSpots"] == []
    bad = await any_api.gql(
        f"query($id: ID!, $limit: Int!) {{ party(id: $id) {{ {STATS} }} }}",
        {"id": party_id, "limit": -1},
        token=people.host.token,
    )
    assert bad.body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_counts_are_exact_under_concurrent_reactions_on_postgres(api: Api) -> None:
    people = await cast(api, media=MEDIA)
    party_id = people.party["id"]
    item_id = await current_item(api, people.host, party_id)
    senders = [people.member, people.moderator, people.cohost, people.host]
    answers = await asyncio.gather(
        *(react(api, who, party_id, "🎉", 30.0 + n) for who in senders for n in range(5))
    )
    assert [a["__typename"] for a in answers] == ["SendReactionPayload"] * 20
    assert await stats(api, people.host, party_id) == {
        "total": 20,
        "byEmoji": [{"emoji": "🎉", "count": 20}],
        "hotSpots": [spot(item_id, 30.0, 20, "🎉")],
    }


@pytest.fixture
async def strict_api(pg_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The production stack with 3 reactions per member and party per hour."""
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_reactions="3/3600"
    )
    async with running_app(settings, worker=False) as api:
        yield api


async def test_reactions_are_rate_limited_per_member(strict_api: Api) -> None:
    people = await cast(strict_api)
    party_id = people.party["id"]
    for _ in range(3):
        answer = await react(strict_api, people.member, party_id)
        assert answer["__typename"] == "SendReactionPayload", answer
    limited = await react(strict_api, people.member, party_id)
    assert (limited["__typename"], limited["code"], limited["field"]) == (
        "RateLimited",
        "RATE_LIMITED",
        None,
    )
    assert 3500 <= limited["retryAfterSeconds"] <= 3600
    assert (
        limited["message"]
        == f"Too many attempts. Try again in {limited['retryAfterSeconds']} seconds."
    )
    # Another member has their own allowance; the refused reaction was not counted.
    assert (await react(strict_api, people.moderator, party_id))["__typename"] == (
        "SendReactionPayload"
    )
    assert (await stats(strict_api, people.host, party_id))["total"] == 4
    # And a member's allowance is per party.
    other = await cast(strict_api)
    await joined(strict_api, people.member, code=other.party["code"])
    assert (await react(strict_api, people.member, other.party["id"]))["__typename"] == (
        "SendReactionPayload"
    )


SENT = f"""
subscription($partyId: ID!, $after: String) {{
  partyEvents(partyId: $partyId, after: $after) {{
    cursor event {{ __typename ... on ReactionSent {{ reaction {{ {REACTION} }} }} }}
  }}
}}
"""


async def subscribe(
    exits: AsyncExitStack, base: str, who: Person, party_id: str, after: str | None = None
) -> PartyStream:
    socket = await exits.enter_async_context(graphql_socket(base))
    ack = await socket.init({"authorization": f"Bearer {who.token}"})
    assert ack["type"] == "connection_ack"
    variables = {"partyId": party_id, "after": after}
    stream = PartyStream(socket, await socket.subscribe(SENT, variables))
    assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
    return stream


async def test_reactions_reach_the_stream_and_are_never_replayed(any_api: Api) -> None:
    people: Cast = await cast(any_api, media=MEDIA)
    party_id = people.party["id"]
    async with AsyncExitStack() as exits:
        base = await exits.enter_async_context(live_server(any_api.app))
        stream = await subscribe(exits, base, people.host, party_id)
        sent = await react(any_api, people.member, party_id, "😮", 42.0, 0.5, 0.5)
        item = await stream.next_event("PresenceChanged")
        assert item == {
            "cursor": None,
            "event": {"__typename": "ReactionSent", "reaction": sent["reaction"]},
        }
        # Reconnecting from the first cursor replays stored events only: up to a marker (a
        # poll created afterwards), no ReactionSent comes back.
        replay = await subscribe(exits, base, people.cohost, party_id, after="0")
        created = await mutate_poll(any_api, people.host, party_id)
        seen = []
        while True:
            event = (await replay.next())["event"]
            if event["__typename"] == "PollChanged":
                break
            seen.append(event["__typename"])
        assert created["__typename"] == "PollPayload"
        assert "ReactionSent" not in seen
        assert "MemberJoined" in seen  # the replay did happen


async def mutate_poll(api: Api, who: Person, party_id: str) -> dict[str, Any]:
    result = await api.gql(
        "mutation($input: CreatePollInput!) { createPoll(input: $input) { __typename } }",
        {"input": {"partyId": party_id, "question": "Marker?", "options": ["A", "B"]}},
        token=who.token,
    )
    answer: dict[str, Any] = result.data["createPoll"]
    return answer
