"""`inviteToParty`, `acceptPartyInvite` and `declinePartyInvite` through GraphQL on both stacks:
who may invite whom (people you know from a party), what each person skipped is told, the
PARTY_INVITE entries (collapsed per party), accepting as by an invite link (bans, capacity and
the end still refuse), declining in silence, typed errors, and the rate limits on invitations and
on mentions."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.chat_ops import send
from tests.notifications_ops import entries, feed
from tests.parties_ops import (
    NOT_AUTHENTICATED,
    NOT_FOUND,
    Person,
    create_party,
    error,
    joined,
    person,
)
from tests.parties_ops import mutate as party_mutate
from tests.support import Api, make_settings, running_app

INVITE = """mutation($input: InviteToPartyInput!) { inviteToParty(input: $input) { __typename
  ... on InviteToPartyPayload { partyId invitedUserIds skipped { userId reason } }
  ... on RateLimited { retryAfterSeconds }
  ... on UserError { code message field } } }"""

ACCEPT = """mutation($id: ID!) { acceptPartyInvite(input: {notificationId: $id}) { __typename
  ... on JoinPartyPayload { party { id status } member { user { id } role status } }
  ... on PartyFull { maxMembers } ... on Banned { until }
  ... on UserError { code message field } } }"""

DECLINE = """mutation($id: ID!) { declinePartyInvite(input: {notificationId: $id}) { __typename
  ... on DeclinePartyInvitePayload { notificationId partyId }
  ... on UserError { code message field } } }"""

NOTIFICATION_NOT_FOUND = error("NotFound", "NOT_FOUND", "Notification not found.", "notificationId")


async def invite(api: Api, who: Person | None, party_id: str, *users: Any) -> dict[str, Any]:
    ids = [u.id if isinstance(u, Person) else u for u in users]
    result = await api.gql(
        INVITE,
        {"input": {"partyId": party_id, "userIds": ids}},
        token=None if who is None else who.token,
    )
    payload: dict[str, Any] = result.data["inviteToParty"]
    return payload


async def answer(api: Api, query: str, who: Person, notification_id: str) -> dict[str, Any]:
    data = (await api.gql(query, {"id": notification_id}, token=who.token)).data
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


async def invitations(api: Api, who: Person) -> list[dict[str, Any]]:
    page = await feed(api, who)
    return [e["node"] for e in page["edges"] if e["node"]["kind"] == "PARTY_INVITE"]


def invited(party_id: str, actors: str, actor: str, count: int) -> tuple[Any, ...]:
    return (
        "PARTY_INVITE",
        f"{actors} invited you to Friday movie night",
        "Join the party.",
        f"/parties/{party_id}",
        actor,
        count,
        ("PARTY", party_id),
    )


async def acquainted(api: Api, host: Person, *people: Person) -> None:
    """`people` met `host` in an earlier party of the host's, and left it."""
    party = await create_party(api, host, title="Last week")
    for who in people:
        await joined(api, who, code=party["code"])
        left = await party_mutate(api, "leaveParty", who.token, partyId=party["id"])
        assert left["__typename"] == "LeavePartyPayload", left


async def friday(api: Api, host: Person, **input: Any) -> dict[str, Any]:
    input.setdefault("visibility", "PRIVATE")
    return await create_party(api, host, title="Friday movie night", **input)


async def test_invites_reach_people_you_know_and_skip_the_others(any_api: Api) -> None:
    api = any_api
    alice = await person(api, "Alice")
    bob, carol, dave, erin, frank = [
        await person(api, n) for n in ("Bob", "Carol", "Dave", "Erin", "Frank")
    ]
    await acquainted(api, alice, bob, erin)
    elsewhere = await create_party(api, alice, title="Elsewhere")
    await joined(api, carol, code=elsewhere["code"])  # active together now
    party = await friday(api, alice)
    pid = party["id"]
    await joined(api, frank, code=party["code"])
    banned = await party_mutate(api, "banMember", alice.token, partyId=pid, userId=erin.id)
    assert banned["__typename"] == "PartyMemberPayload", banned
    nobody = str(uuid.uuid4())

    result = await invite(api, alice, pid, bob, carol, dave, erin, frank, alice, nobody, "x", bob)
    assert result == {
        "__typename": "InviteToPartyPayload",
        "partyId": pid,
        "invitedUserIds": [bob.id, carol.id],
        "skipped": [
            {"userId": dave.id, "reason": "NOT_CONNECTED"},  # a stranger...
            {"userId": erin.id, "reason": "BANNED"},
            {"userId": frank.id, "reason": "ALREADY_MEMBER"},
            {"userId": alice.id, "reason": "ALREADY_MEMBER"},
            {"userId": nobody, "reason": "NOT_CONNECTED"},  # ...and nobody look the same
            {"userId": "x", "reason": "NOT_CONNECTED"},
        ],
    }
    assert await entries(api, bob) == [invited(pid, "Alice", "Alice", 1)]
    assert await entries(api, carol) == [invited(pid, "Alice", "Alice", 1)]
    for who in (alice, dave, erin, frank):
        assert [e for e in await entries(api, who) if e[0] == "PARTY_INVITE"] == []

    # A co-host who knows Bob invites him too: one entry per party, grown.
    cohen = await person(api, "Cohen")
    await acquainted(api, cohen, bob)
    await joined(api, cohen, code=party["code"])
    role = await party_mutate(
        api, "setMemberRole", alice.token, partyId=pid, userId=cohen.id, role="COHOST"
    )
    assert role["__typename"] == "PartyMemberPayload", role
    again = await invite(api, cohen, pid, bob)
    assert (again["invitedUserIds"], again["skipped"]) == ([bob.id], [])
    assert await entries(api, bob) == [invited(pid, "Cohen and 1 other", "Cohen", 2)]


async def test_who_may_invite_and_bad_input(any_api: Api) -> None:
    api = any_api
    alice, bob, frank, dave = [await person(api, n) for n in ("Alice", "Bob", "Frank", "Dave")]
    await acquainted(api, alice, bob)
    await acquainted(api, frank, bob)
    party = await friday(api, alice)
    pid = party["id"]
    await joined(api, frank, code=party["code"])

    only = "Only a cohost or above can do that."
    assert await invite(api, frank, pid, bob) == error("NotAllowed", "NOT_ALLOWED", only)
    assert await invite(api, dave, pid, bob) == NOT_FOUND  # a private party, to a stranger
    assert await invite(api, None, pid, bob) == NOT_AUTHENTICATED
    assert await invite(api, alice, str(uuid.uuid4()), bob) == NOT_FOUND
    assert await invite(api, alice, pid) == error(
        "ValidationError", "VALIDATION", "Give at least one person to invite.", "userIds"
    )
    many = [str(uuid.uuid4()) for _ in range(21)]
    assert await invite(api, alice, pid, *many) == error(
        "ValidationError", "VALIDATION", "At most 20 people at a time.", "userIds"
    )
    # 21 ids of which 20 differ are 20 people.
    assert (await invite(api, alice, pid, *many[:20], many[0]))["__typename"] == (
        "InviteToPartyPayload"
    )
    ended = await party_mutate(api, "endParty", alice.token, partyId=pid)
    assert ended["__typename"] == "PartyPayload", ended
    assert await invite(api, alice, pid, bob) == error(
        "PartyEndedError", "PARTY_ENDED", "This party has ended."
    )
    assert await entries(api, bob) == []


async def test_accepting_joins_like_an_invite_link_and_declining_tells_nobody(
    any_api: Api,
) -> None:
    api = any_api
    alice, bob, carol = [await person(api, n) for n in ("Alice", "Bob", "Carol")]
    await acquainted(api, alice, bob, carol)
    party = await friday(api, alice, requireApproval=True)
    pid = party["id"]
    assert (await invite(api, alice, pid, bob, carol))["invitedUserIds"] == [bob.id, carol.id]
    (bob_invite,) = await invitations(api, bob)
    (carol_invite,) = await invitations(api, carol)
    host_feed = await entries(api, alice)

    # Only your own invitation: another person's id is NotFound, like a missing one.
    assert await answer(api, ACCEPT, carol, bob_invite["id"]) == NOTIFICATION_NOT_FOUND
    assert await answer(api, DECLINE, carol, bob_invite["id"]) == NOTIFICATION_NOT_FOUND
    assert await answer(api, ACCEPT, bob, str(uuid.uuid4())) == NOTIFICATION_NOT_FOUND
    assert await answer(api, ACCEPT, bob, "nope") == NOTIFICATION_NOT_FOUND

    accepted = await answer(api, ACCEPT, bob, bob_invite["id"])
    assert accepted == {
        "__typename": "JoinPartyPayload",
        "party": {"id": pid, "status": "LIVE"},
        "member": {"user": {"id": bob.id}, "role": "MEMBER", "status": "ACTIVE"},
    }
    (read,) = await invitations(api, bob)
    assert read["readAt"] is not None
    # Accepting again: still in, nothing new.
    assert (await answer(api, ACCEPT, bob, bob_invite["id"]))["__typename"] == "JoinPartyPayload"

    declined = await answer(api, DECLINE, carol, carol_invite["id"])
    assert declined == {
        "__typename": "DeclinePartyInvitePayload",
        "notificationId": carol_invite["id"],
        "partyId": pid,
    }
    (read,) = await invitations(api, carol)
    assert read["readAt"] is not None
    members = await api.gql(
        "query($id: ID!) { party(id: $id) { members(first: 10) { edges { node { user { id } } } } "
        "} }",
        {"id": pid},
        token=alice.token,
    )
    ids = {e["node"]["user"]["id"] for e in members.data["party"]["members"]["edges"]}
    assert ids == {alice.id, bob.id}
    # Approval was skipped (no JOIN_REQUEST) and nobody heard of the decline.
    assert await entries(api, alice) == host_feed

    # Another kind of your own notification is not an invitation.
    role = await party_mutate(
        api, "setMemberRole", alice.token, partyId=pid, userId=bob.id, role="MODERATOR"
    )
    assert role["__typename"] == "PartyMemberPayload", role
    other = next(n for n in (await feed(api, bob))["edges"] if n["node"]["kind"] == "ROLE_CHANGED")
    assert await answer(api, ACCEPT, bob, other["node"]["id"]) == error(
        "ValidationError",
        "VALIDATION",
        "This notification is not an invitation.",
        "notificationId",
    )


async def test_accepting_still_meets_bans_capacity_the_end_and_deletion(any_api: Api) -> None:
    api = any_api
    alice, bob, carol, dave, erin = [
        await person(api, n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin")
    ]
    await acquainted(api, alice, bob, carol, dave, erin)
    party = await friday(api, alice, maxMembers=2)
    pid = party["id"]
    await invite(api, alice, pid, bob, carol)
    (bob_invite,) = await invitations(api, bob)
    (carol_invite,) = await invitations(api, carol)

    # Banned after the invitation: refused, and the invitation stays unread.
    banned = await party_mutate(api, "banMember", alice.token, partyId=pid, userId=bob.id)
    assert banned["__typename"] == "PartyMemberPayload", banned
    refused = await answer(api, ACCEPT, bob, bob_invite["id"])
    assert (refused["__typename"], refused["code"], refused["until"]) == ("Banned", "BANNED", None)
    assert (await invitations(api, bob))[0]["readAt"] is None

    assert (await answer(api, ACCEPT, carol, carol_invite["id"]))["__typename"] == (
        "JoinPartyPayload"
    )
    await invite(api, alice, pid, dave)  # full now: Dave cannot get in
    (dave_invite,) = await invitations(api, dave)
    full = await answer(api, ACCEPT, dave, dave_invite["id"])
    assert (full["__typename"], full["code"], full["maxMembers"]) == ("PartyFull", "PARTY_FULL", 2)

    other = await friday(api, alice)
    await invite(api, alice, other["id"], erin)
    await party_mutate(api, "endParty", alice.token, partyId=other["id"])
    (erin_invite,) = await invitations(api, erin)
    assert await answer(api, ACCEPT, erin, erin_invite["id"]) == error(
        "PartyEndedError", "PARTY_ENDED", "This party has ended."
    )
    third = await friday(api, alice)
    await invite(api, alice, third["id"], dave)
    await party_mutate(api, "deleteParty", alice.token, partyId=third["id"])
    latest = (await invitations(api, dave))[0]
    assert await answer(api, ACCEPT, dave, latest["id"]) == NOT_FOUND


# -- rate limits -------------------------------------------------------------------------------


@pytest.fixture(params=["postgres", "embedded"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_invitations_are_limited_per_inviter(mode: str, pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        mode, database_url=pg_url, tmp=tmp_path, rate_limit_party_invites="3/3600"
    )
    async with running_app(settings) as api:
        alice = await person(api, "Alice")
        people = [await person(api, n) for n in ("Bob", "Carol", "Dave", "Erin", "Fay")]
        bob, carol, dave, erin, fay = people
        await acquainted(api, alice, *people)
        pid = (await friday(api, alice))["id"]
        # Skipped people do not count.
        first = await invite(api, alice, pid, bob, alice, carol)
        assert first["invitedUserIds"] == [bob.id, carol.id]
        second = await invite(api, alice, pid, dave, erin)
        assert second["invitedUserIds"] == [dave.id]
        assert second["skipped"] == [{"userId": erin.id, "reason": "RATE_LIMITED"}]
        third = await invite(api, alice, pid, fay)
        assert third["__typename"] == "RateLimited", third
        assert 1 <= third["retryAfterSeconds"] <= 3600
        assert (third["code"], third["field"]) == ("RATE_LIMITED", None)
        assert (await entries(api, erin), await entries(api, fay)) == ([], [])
        # Another inviter has a limit of their own.
        cohost = await person(api, "Cohost")
        await acquainted(api, cohost, fay)
        assert (await invite(api, cohost, (await friday(api, cohost))["id"], fay))[
            "invitedUserIds"
        ] == [fay.id]


async def test_mentions_beyond_the_limit_send_the_message_without_them(
    mode: str, pg_url: str, tmp_path: Path
) -> None:
    settings = make_settings(mode, database_url=pg_url, tmp=tmp_path, rate_limit_mentions="2/60")
    async with running_app(settings) as api:
        people = [await person(api, n) for n in ("Alice", "Bob", "Carol", "Dave")]
        alice, bob, carol, dave = people
        party = await create_party(api, alice)
        for who in people[1:]:
            await joined(api, who, code=party["code"])
        first = await send(api, alice.token, party["id"], "@Bob @Carol @Dave look!")
        second = await send(api, alice.token, party["id"], "@Dave are you there?")
        assert (first["body"], second["body"]) == (
            "@Bob @Carol @Dave look!",
            "@Dave are you there?",
        )
        assert [e[0] for e in await entries(api, bob)] == ["MENTION"]
        assert [e[0] for e in await entries(api, carol)] == ["MENTION"]
        assert await entries(api, dave) == []
        # Others are not limited by Alice's mentions.
        await send(api, bob.token, party["id"], "@Dave hi")
        assert [e[1] for e in await entries(api, dave)] == ["Bob mentioned you in Movie night"]
