"""Party producers of the notification feed, through GraphQL on both stacks: join requests and
their answers, role changes, handovers (by hand, by leaving, by failover), kicks and bans. Each
entry is written in the unit of work of the change; nobody else gets one."""

from __future__ import annotations

import uuid
from typing import Any

from tests.notifications_ops import entries
from tests.parties_ops import Cast, Person, cast, create_party, join, mutate, person
from tests.support import Api
from watchparty.parties.hosting import fail_over_host


async def everyone(api: Api, c: Cast, *more: Person) -> dict[str, list[tuple[Any, ...]]]:
    people = [c.host, c.cohost, c.moderator, c.member, c.stranger, *more]
    return {p.name: await entries(api, p) for p in people}


def role_entry(c: Cast, role: str) -> tuple[Any, ...]:
    party = c.party["id"]
    return (
        "ROLE_CHANGED",
        f"You are now {role} in Movie night",
        "Host changed your role.",
        f"/parties/{party}",
        "Host",
        1,
        ("PARTY", party),
    )


async def test_join_requests_reach_moderators_collapsed_and_answers_the_requester(
    any_api: Api,
) -> None:
    c = await cast(any_api)
    party = c.party["id"]
    await mutate(any_api, "updateParty", c.host.token, partyId=party, requireApproval=True)
    before = await everyone(any_api, c)
    assert before == {
        "Host": [],
        "Cohost": [role_entry(c, "a co-host")],
        "Moderator": [role_entry(c, "a moderator")],
        "Member": [],
        "Stranger": [],
    }
    bob, carol = await person(any_api, "Bob"), await person(any_api, "Carol")
    for who in (bob, carol):
        assert (await join(any_api, who, code=c.party["code"]))["__typename"] == "JoinPending"
    # Asking again changes nothing.
    assert (await join(any_api, carol, code=c.party["code"]))["__typename"] == "JoinPending"
    request = (
        "JOIN_REQUEST",
        "Carol and 1 other asked to join Movie night",
        "Approve or decline in the members list.",
        f"/parties/{party}",
        "Carol",
        2,
        ("PARTY", party),
    )
    after = await everyone(any_api, c, bob, carol)
    assert after == {
        "Host": [request],
        "Cohost": [request, *before["Cohost"]],
        "Moderator": [request, *before["Moderator"]],
        "Member": [],
        "Stranger": [],
        "Bob": [],
        "Carol": [],
    }

    approved = await mutate(
        any_api, "approveMember", c.moderator.token, partyId=party, userId=bob.id
    )
    assert approved["__typename"] == "PartyMemberPayload", approved
    rejected = await mutate(any_api, "rejectMember", c.host.token, partyId=party, userId=carol.id)
    assert rejected["__typename"] == "MemberRemovedPayload", rejected
    assert await entries(any_api, bob) == [
        (
            "JOIN_APPROVED",
            "You can join Movie night",
            "Your request was approved.",
            f"/parties/{party}",
            "Moderator",
            1,
            ("PARTY", party),
        )
    ]
    assert await entries(any_api, carol) == [
        (
            "JOIN_REJECTED",
            "Your request to join Movie night was declined",
            "",
            None,
            "Host",
            1,
            ("PARTY", party),
        )
    ]
    # Nobody else heard of the answers.
    assert await everyone(any_api, c) == {k: v for k, v in after.items() if k in before}


async def test_joining_without_approval_notifies_nobody(any_api: Api) -> None:
    host = await person(any_api, "Host")
    party = await create_party(any_api, host)
    bob = await person(any_api, "Bob")
    assert (await join(any_api, bob, code=party["code"]))["__typename"] == "JoinPartyPayload"
    assert (await entries(any_api, host), await entries(any_api, bob)) == ([], [])


async def test_roles_handovers_kicks_and_bans_reach_the_member_concerned(any_api: Api) -> None:
    c = await cast(any_api)
    party = c.party["id"]
    before = await everyone(any_api, c)
    changed = await mutate(
        any_api, "setMemberRole", c.host.token, partyId=party, userId=c.member.id, role="MODERATOR"
    )
    assert changed["__typename"] == "PartyMemberPayload", changed
    # Setting the same role again is no change: no entry.
    await mutate(
        any_api, "setMemberRole", c.host.token, partyId=party, userId=c.member.id, role="MODERATOR"
    )
    assert await entries(any_api, c.member) == [role_entry(c, "a moderator")]

    moved = await mutate(any_api, "transferHost", c.host.token, partyId=party, userId=c.member.id)
    assert moved["__typename"] == "TransferHostPayload", moved
    host_entry = (
        "HOST_TRANSFERRED",
        "You are now the host of Movie night",
        "The host handed the party over to you.",
        f"/parties/{party}",
        "Host",
        1,
        ("PARTY", party),
    )
    assert await entries(any_api, c.member) == [host_entry, role_entry(c, "a moderator")]

    kicked = await mutate(
        any_api, "kickMember", c.member.token, partyId=party, userId=c.moderator.id
    )
    assert kicked["__typename"] == "MemberRemovedPayload", kicked
    banned = await mutate(
        any_api, "banMember", c.member.token, partyId=party, userId=c.cohost.id, until=None
    )
    assert banned["__typename"] == "PartyMemberPayload", banned
    # Banning someone who is not in the party removes nobody: no entry.
    await mutate(any_api, "banMember", c.member.token, partyId=party, userId=c.stranger.id)
    removed = (None, "Member", 1, ("PARTY", party))
    after = await everyone(any_api, c)
    assert after == {
        "Host": before["Host"],
        "Cohost": [
            ("BANNED", "You were banned from Movie night", "", *removed),
            *before["Cohost"],
        ],
        "Moderator": [
            ("KICKED", "You were removed from Movie night", "", *removed),
            *before["Moderator"],
        ],
        "Member": [host_entry, role_entry(c, "a moderator")],
        "Stranger": [],
    }


async def test_hosting_passed_on_leaving_or_failover_tells_the_new_host(any_api: Api) -> None:
    c = await cast(any_api)
    party = c.party["id"]
    before = await everyone(any_api, c)
    left = await mutate(any_api, "leaveParty", c.host.token, partyId=party)
    assert left["__typename"] == "LeavePartyPayload", left
    passed = ("You are now the host of Movie night", f"/parties/{party}", ("PARTY", party))
    assert await everyone(any_api, c) == {
        **before,
        "Cohost": [
            (
                "HOST_TRANSFERRED",
                passed[0],
                "The host left, so hosting passed to you.",
                passed[1],
                "Host",
                1,
                passed[2],
            ),
            *before["Cohost"],
        ],
    }
    # The co-host goes away: the failover hands hosting to the moderator, nobody acting.
    async with any_api.state.unit_of_work() as uow:
        successor = await fail_over_host(
            uow, uuid.UUID(party), offline_host_id=uuid.UUID(c.cohost.id)
        )
    assert successor is not None and str(successor.user_id) == c.moderator.id
    assert (await entries(any_api, c.moderator))[0] == (
        "HOST_TRANSFERRED",
        passed[0],
        "The host was away, so hosting passed to you.",
        passed[1],
        None,
        0,
        passed[2],
    )
    assert len(await entries(any_api, c.moderator)) == len(before["Moderator"]) + 1
    assert (await entries(any_api, c.member), await entries(any_api, c.host)) == ([], [])
