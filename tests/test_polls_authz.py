"""Who may create, vote on, close and read polls: role x poll policy, and party visibility."""

from __future__ import annotations

from typing import Any

import pytest

from tests.parties_ops import (
    NOT_AUTHENTICATED,
    Cast,
    Person,
    cast,
    error,
    mutate,
)
from tests.support import Api
from tests.test_polls import new_poll, party_polls, poll_op, vote

ROLES = ["anonymous", "stranger", "member", "moderator", "cohost", "host"]
MAY_CREATE = {
    "MODERATORS": {"moderator", "cohost", "host"},
    "EVERYONE": {"member", "moderator", "cohost", "host"},
}
NOT_MEMBER = error("NotAllowed", "NOT_ALLOWED", "Only members of this party can do that.")
POLL_NOT_FOUND = error("NotFound", "NOT_FOUND", "Poll not found.", "pollId")


def actor(people: Cast, role: str) -> Person | None:
    return None if role == "anonymous" else getattr(people, role)


def token(who: Person | None) -> str | None:
    return None if who is None else who.token


@pytest.mark.parametrize("policy", sorted(MAY_CREATE))
async def test_create_poll_matrix(api: Api, policy: str) -> None:
    people = await cast(api, pollPolicy=policy)
    for role in ROLES:
        answer = await poll_op(
            api,
            "createPoll",
            token(actor(people, role)),
            partyId=people.party["id"],
            question="Q?",
            options=["A", "B"],
        )
        if role == "anonymous":
            assert answer == NOT_AUTHENTICATED, role
        elif role == "stranger":
            assert answer == NOT_MEMBER, role
        elif role in MAY_CREATE[policy]:
            assert answer["__typename"] == "PollPayload", (role, answer)
        else:
            assert answer == error(
                "NotAllowed",
                "NOT_ALLOWED",
                "Only a moderator or above can create polls in this party.",
            ), role


async def test_vote_matrix(api: Api) -> None:
    people = await cast(api)
    poll = await new_poll(api, people.host, people.party["id"])
    option = poll["options"][0]["id"]
    for role in ROLES:
        who = token(actor(people, role))
        answer = await poll_op(api, "votePoll", who, pollId=poll["id"], optionIds=[option])
        if role == "anonymous":
            assert answer == NOT_AUTHENTICATED
        elif role == "stranger":
            assert answer == NOT_MEMBER
        else:
            assert answer["__typename"] == "PollPayload", (role, answer)
    final = (await party_polls(api, people.host.token, people.party["id"]))["edges"][0]["node"]
    assert final["totalVoters"] == 4


@pytest.mark.parametrize("creator", ["member", "moderator"])
async def test_close_matrix(api: Api, creator: str) -> None:
    """The creator, or a moderator and above (a moderator may close a moderator's poll)."""
    for role in ROLES:
        people = await cast(api, pollPolicy="EVERYONE")
        poll = await new_poll(api, getattr(people, creator), people.party["id"])
        answer = await poll_op(api, "closePoll", token(actor(people, role)), pollId=poll["id"])
        if role == "anonymous":
            assert answer == NOT_AUTHENTICATED
        elif role == "stranger":
            assert answer == NOT_MEMBER
        elif role == creator or role in ("moderator", "cohost", "host"):
            assert answer["__typename"] == "PollPayload", (creator, role, answer)
            assert answer["poll"]["status"] == "CLOSED"
        else:
            assert answer == error(
                "NotAllowed",
                "NOT_ALLOWED",
                "Only the poll's creator or a moderator and above can close it.",
            ), (creator, role)


async def test_private_party_polls_do_not_exist_for_strangers(any_api: Api) -> None:
    people = await cast(any_api, visibility="PRIVATE")
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.host, party_id)
    stranger = people.stranger
    created = await poll_op(
        any_api, "createPoll", stranger.token, partyId=party_id, question="Q?", options=["A", "B"]
    )
    assert created == error("NotFound", "NOT_FOUND", "Party not found.")
    assert await vote(any_api, stranger, poll["id"], poll["options"][0]["id"]) == POLL_NOT_FOUND
    closed = await poll_op(any_api, "closePoll", stranger.token, pollId=poll["id"])
    assert closed == POLL_NOT_FOUND
    result = await any_api.gql(
        "query($id: ID!) { party(id: $id) { polls { totalCount } } }",
        {"id": party_id},
        token=stranger.token,
    )
    assert result.data == {"party": None}


async def test_who_reads_party_polls(any_api: Api) -> None:
    public = await cast(any_api)
    await new_poll(any_api, public.host, public.party["id"])
    readers: dict[str, Any] = {}
    for role in ROLES:
        listed = await party_polls(
            any_api, token(actor(public, role)), public.party["id"], "question"
        )
        readers[role] = None if listed is None else listed["totalCount"]
    # Signed-in viewers of a PUBLIC party may follow its stream, so they see its polls.
    assert readers == {
        "anonymous": None,
        "stranger": 1,
        "member": 1,
        "moderator": 1,
        "cohost": 1,
        "host": 1,
    }
    unlisted = await cast(any_api, visibility="UNLISTED")
    await new_poll(any_api, unlisted.host, unlisted.party["id"])
    assert await party_polls(any_api, unlisted.stranger.token, unlisted.party["id"], "id") is None
    seen = await party_polls(any_api, unlisted.member.token, unlisted.party["id"], "id")
    assert seen["totalCount"] == 1


async def test_former_and_banned_members_lose_their_vote(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.host, party_id)
    option = poll["options"][0]["id"]
    left = await mutate(any_api, "leaveParty", people.member.token, partyId=party_id)
    assert left["__typename"] == "LeavePartyPayload", left
    assert await vote(any_api, people.member, poll["id"], option) == NOT_MEMBER
    banned = await mutate(
        any_api, "banMember", people.host.token, partyId=party_id, userId=people.moderator.id
    )
    assert banned["__typename"] == "PartyMemberPayload", banned
    assert await vote(any_api, people.moderator, poll["id"], option) == NOT_MEMBER
    assert await party_polls(any_api, people.moderator.token, party_id, "id") is None


async def test_polls_of_an_ended_party_take_no_votes(any_api: Api) -> None:
    people = await cast(any_api)
    party_id = people.party["id"]
    poll = await new_poll(any_api, people.host, party_id)
    ended = await mutate(any_api, "endParty", people.host.token, partyId=party_id)
    assert ended["__typename"] == "PartyPayload", ended
    ended_error = error("PartyEndedError", "PARTY_ENDED", "This party has ended.")
    assert await vote(any_api, people.member, poll["id"], poll["options"][0]["id"]) == ended_error
    created = await poll_op(
        any_api,
        "createPoll",
        people.host.token,
        partyId=party_id,
        question="Q?",
        options=["A", "B"],
    )
    assert created == ended_error
