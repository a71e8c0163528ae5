"""The authorization matrix: every party mutation x (anonymous, stranger, member, moderator,
co-host, host), for a PUBLIC and a PRIVATE party, with the exact answer each role gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.parties_ops import Person, create_party, error, join, joined, mutate, person
from tests.support import Api

ROLES = ("anonymous", "stranger", "member", "moderator", "cohost", "host")
OK = "ok"
NA = "NotAuthenticated"
NO = "NotAllowed"
NF = "NotFound"

# mutation -> (success typename, expected answer per role in ROLES order) for a PUBLIC party.
MATRIX: dict[str, tuple[str, tuple[str, ...]]] = {
    "updateParty": ("PartyPayload", (NA, NO, NO, NO, OK, OK)),
    "deleteParty": ("DeletePartyPayload", (NA, NO, NO, NO, NO, OK)),
    "startParty": ("PartyPayload", (NA, NO, NO, NO, OK, OK)),
    "endParty": ("PartyPayload", (NA, NO, NO, NO, OK, OK)),
    "joinParty": ("JoinPartyPayload", (NA, OK, OK, OK, OK, OK)),
    "leaveParty": ("LeavePartyPayload", (NA, NO, OK, OK, OK, OK)),
    "approveMember": ("PartyMemberPayload", (NA, NO, NO, OK, OK, OK)),
    "rejectMember": ("MemberRemovedPayload", (NA, NO, NO, OK, OK, OK)),
    "setMemberRole": ("PartyMemberPayload", (NA, NO, NO, NO, NO, OK)),
    "transferHost": ("TransferHostPayload", (NA, NO, NO, NO, NO, OK)),
    "kickMember": ("MemberRemovedPayload", (NA, NO, NO, OK, OK, OK)),
    "banMember": ("PartyMemberPayload", (NA, NO, NO, OK, OK, OK)),
    "unbanMember": ("PartyMemberPayload", (NA, NO, NO, OK, OK, OK)),
    "createInviteLink": ("CreateInviteLinkPayload", (NA, NO, NO, NO, OK, OK)),
    # Strangers may not even learn that a link exists.
    "revokeInviteLink": ("RevokeInviteLinkPayload", (NA, NF, NO, NO, OK, OK)),
}

CODES = {NA: "NOT_AUTHENTICATED", NO: "NOT_ALLOWED", NF: "NOT_FOUND"}


class Crew:
    """The same people in every party of the matrix (cheap: parties are, accounts are not)."""

    def __init__(self, people: dict[str, Person], target: Person) -> None:
        self.people = people
        self.target = target

    @property
    def host(self) -> Person:
        return self.people["host"]

    def token(self, role: str) -> str | None:
        return None if role == "anonymous" else self.people[role].token

    async def party(self, api: Api, visibility: str, **extra: Any) -> dict[str, Any]:
        party = await create_party(api, self.host, visibility=visibility, **extra)
        for role in ("member", "moderator", "cohost"):
            await joined(api, self.people[role], code=party["code"])
            if role != "member":
                result = await mutate(
                    api,
                    "setMemberRole",
                    self.host.token,
                    partyId=party["id"],
                    userId=self.people[role].id,
                    role=role.upper(),
                )
                assert result["__typename"] == "PartyMemberPayload", result
        return party


Setup = Callable[[Api, Crew, str], Awaitable[dict[str, Any]]]


async def _party_only(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    return {"partyId": (await crew.party(api, visibility))["id"]}


async def _scheduled(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {"partyId": (await crew.party(api, visibility, scheduledStart=later))["id"]}


async def _with_target(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    party = await crew.party(api, visibility)
    await joined(api, crew.target, code=party["code"])
    return {"partyId": party["id"], "userId": crew.target.id}


async def _with_request(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    party = await crew.party(api, visibility)  # the crew joins first, then approval is on
    turned_on = await mutate(
        api, "updateParty", crew.host.token, partyId=party["id"], requireApproval=True
    )
    assert turned_on["__typename"] == "PartyPayload", turned_on
    pending = await join(api, crew.target, code=party["code"])
    assert pending["__typename"] == "JoinPending", pending
    return {"partyId": party["id"], "userId": crew.target.id}


async def _with_ban(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    party = await crew.party(api, visibility)
    banned = await mutate(
        api, "banMember", crew.host.token, partyId=party["id"], userId=crew.target.id
    )
    assert banned["__typename"] == "PartyMemberPayload", banned
    return {"partyId": party["id"], "userId": crew.target.id}


async def _with_link(api: Api, crew: Crew, visibility: str) -> dict[str, Any]:
    party = await crew.party(api, visibility)
    created = await mutate(api, "createInviteLink", crew.host.token, partyId=party["id"])
    return {"inviteLinkId": created["inviteLink"]["id"]}


SETUPS: dict[str, tuple[Setup, dict[str, Any]]] = {
    "updateParty": (_party_only, {"title": "Renamed"}),
    "deleteParty": (_party_only, {}),
    "startParty": (_scheduled, {}),
    "endParty": (_party_only, {}),
    "joinParty": (_party_only, {}),
    "leaveParty": (_party_only, {}),
    "approveMember": (_with_request, {}),
    "rejectMember": (_with_request, {}),
    "setMemberRole": (_with_target, {"role": "MODERATOR"}),
    "transferHost": (_with_target, {}),
    "kickMember": (_with_target, {}),
    "banMember": (_with_target, {}),
    "unbanMember": (_with_ban, {}),
    "createInviteLink": (_party_only, {}),
    "revokeInviteLink": (_with_link, {}),
}


@pytest.fixture(scope="module")
async def crew(api: Api) -> Crew:
    people = {role: await person(api, role.title()) for role in ROLES if role != "anonymous"}
    return Crew(people, await person(api, "Target"))


def _expected(name: str, role: str, visibility: str) -> str:
    success, answers = MATRIX[name]
    answer = answers[ROLES.index(role)]
    if visibility == "PRIVATE" and role == "stranger":
        answer = NF  # a stranger cannot tell a PRIVATE party from a missing one
    return success if answer == OK else answer


@pytest.mark.parametrize("visibility", ["PUBLIC", "PRIVATE"])
@pytest.mark.parametrize("name", list(MATRIX))
async def test_authorization_matrix(api: Api, crew: Crew, name: str, visibility: str) -> None:
    setup, extra = SETUPS[name]
    answers: dict[str, Any] = {}
    shared: dict[str, Any] | None = None  # refusals change nothing: one party serves them all
    for role in ROLES:
        if _expected(name, role, visibility) == MATRIX[name][0]:
            input = {**await setup(api, crew, visibility), **extra}
        else:
            shared = shared or {**await setup(api, crew, visibility), **extra}
            input = shared
        result = await mutate(api, name, crew.token(role), **input)
        answers[role] = (result["__typename"], result.get("code"))
    expected = {}
    for role in ROLES:
        typename = _expected(name, role, visibility)
        expected[role] = (typename, CODES.get(typename))
    assert answers == expected


async def test_moderation_reaches_lower_roles_only(api: Api, crew: Crew) -> None:
    party = await crew.party(api, "PUBLIC")
    pid = party["id"]
    people = crew.people
    attempts = [
        ("moderator", "cohost"),
        ("moderator", "host"),
        ("cohost", "host"),
        ("moderator", "moderator"),
        ("cohost", "cohost"),
        ("host", "host"),
    ]
    for actor, target in attempts:
        for name in ("kickMember", "banMember"):
            result = await mutate(
                api, name, people[actor].token, partyId=pid, userId=people[target].id
            )
            verb = "kick" if name == "kickMember" else "ban"
            message = (
                f"You cannot {verb} yourself."
                if actor == target
                else f"You cannot {verb} a {target}."
            )
            assert result == error("NotAllowed", "NOT_ALLOWED", message, "userId"), (actor, target)
    # A second moderator cannot be kicked by the first either.
    other = await person(api, "Second moderator")
    await joined(api, other, partyId=pid)
    await mutate(
        api, "setMemberRole", crew.host.token, partyId=pid, userId=other.id, role="MODERATOR"
    )
    assert await mutate(
        api, "kickMember", people["moderator"].token, partyId=pid, userId=other.id
    ) == error("NotAllowed", "NOT_ALLOWED", "You cannot kick a moderator.", "userId")
    assert (await mutate(api, "kickMember", people["cohost"].token, partyId=pid, userId=other.id))[
        "__typename"
    ] == "MemberRemovedPayload"
