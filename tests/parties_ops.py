"""GraphQL documents and helpers shared by the tests/test_parties_api*.py files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support import Api

ERRORS = "... on UserError { code message field }"
EXTRA_ERRORS = {
    "joinParty": "... on PartyFull { maxMembers } ... on Banned { until }",
    "approveMember": "... on PartyFull { maxMembers }",
}
MEMBER = "user { id displayName } role status online joinedAt lastDriftMs"
PARTY = (
    "id title description code visibility status scheduledStart createdAt startedAt endedAt "
    "host { id } memberCount settings { maxMembers requireApproval controlPolicy chatEnabled "
    "reactionsEnabled waitForBuffering bufferingTimeoutSeconds }"
)
PREVIEW = (
    "id title visibility status requiresApproval memberCount maxMembers scheduledStart host { id }"
)

# mutation name -> (input type, selection of the success payload(s))
MUTATIONS: dict[str, tuple[str, str]] = {
    "createParty": ("CreatePartyInput", f"... on PartyPayload {{ party {{ {PARTY} }} }}"),
    "updateParty": ("UpdatePartyInput", f"... on PartyPayload {{ party {{ {PARTY} }} }}"),
    "deleteParty": ("DeletePartyInput", "... on DeletePartyPayload { partyId }"),
    "startParty": ("StartPartyInput", f"... on PartyPayload {{ party {{ {PARTY} }} }}"),
    "endParty": ("EndPartyInput", f"... on PartyPayload {{ party {{ {PARTY} }} }}"),
    "joinParty": (
        "JoinPartyInput",
        f"... on JoinPartyPayload {{ party {{ {PARTY} }} member {{ {MEMBER} }} }} "
        f"... on JoinPending {{ party {{ {PREVIEW} }} member {{ {MEMBER} }} }}",
    ),
    "leaveParty": ("LeavePartyInput", "... on LeavePartyPayload { partyId }"),
    "approveMember": (
        "ApproveMemberInput",
        f"... on PartyMemberPayload {{ member {{ {MEMBER} }} }}",
    ),
    "rejectMember": ("RejectMemberInput", "... on MemberRemovedPayload { partyId userId }"),
    "setMemberRole": (
        "SetMemberRoleInput",
        f"... on PartyMemberPayload {{ member {{ {MEMBER} }} }}",
    ),
    "transferHost": (
        "TransferHostInput",
        f"... on TransferHostPayload {{ party {{ id host {{ id }} }} host {{ {MEMBER} }} "
        f"previousHost {{ {MEMBER} }} }}",
    ),
    "kickMember": ("KickMemberInput", "... on MemberRemovedPayload { partyId userId }"),
    "banMember": ("BanMemberInput", f"... on PartyMemberPayload {{ member {{ {MEMBER} }} }}"),
    "unbanMember": ("UnbanMemberInput", f"... on PartyMemberPayload {{ member {{ {MEMBER} }} }}"),
    "createInviteLink": (
        "CreateInviteLinkInput",
        "... on CreateInviteLinkPayload { token url inviteLink { id expiresAt maxUses uses "
        "revoked createdAt } }",
    ),
    "revokeInviteLink": (
        "RevokeInviteLinkInput",
        "... on RevokeInviteLinkPayload { inviteLink { id revoked uses } }",
    ),
}


async def mutate(api: Api, name: str, token: str | None = None, **input: Any) -> dict[str, Any]:
    """Run party mutation `name` with `input`; the union member with its __typename."""
    input_type, selection = MUTATIONS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        f"{selection} {ERRORS} {EXTRA_ERRORS.get(name, '')} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=token)
    payload: dict[str, Any] = result.data[name]
    return payload


def error(typename: str, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"__typename": typename, "code": code, "message": message, "field": field}


NOT_FOUND = error("NotFound", "NOT_FOUND", "Party not found.")
NOT_AUTHENTICATED = error("NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in.")


@dataclass
class Person:
    token: str
    id: str
    name: str


async def person(api: Api, name: str = "Someone") -> Person:
    payload = await api.register(display_name=name)
    return Person(token=payload["accessToken"], id=payload["user"]["id"], name=name)


async def create_party(api: Api, host: Person, **input: Any) -> dict[str, Any]:
    input.setdefault("title", "Movie night")
    result = await mutate(api, "createParty", host.token, **input)
    assert result["__typename"] == "PartyPayload", result
    party: dict[str, Any] = result["party"]
    return party


async def join(api: Api, who: Person, **how: Any) -> dict[str, Any]:
    return await mutate(api, "joinParty", who.token, **how)


async def joined(api: Api, who: Person, **how: Any) -> dict[str, Any]:
    result = await join(api, who, **how)
    assert result["__typename"] == "JoinPartyPayload", result
    return result


async def party_query(api: Api, party_id: str, token: str | None, fields: str = PARTY) -> Any:
    result = await api.gql(
        f"query($id: ID!) {{ party(id: $id) {{ {fields} }} }}", {"id": party_id}, token=token
    )
    return result.data["party"]


@dataclass
class Cast:
    """A party with one person per role, plus a stranger."""

    party: dict[str, Any]
    host: Person
    cohost: Person
    moderator: Person
    member: Person
    stranger: Person


async def cast(api: Api, **party_input: Any) -> Cast:
    host = await person(api, "Host")
    party = await create_party(api, host, **party_input)
    people = {}
    for role in ("cohost", "moderator", "member"):
        who = await person(api, role.title())
        await joined(api, who, code=party["code"])
        people[role] = who
        if role != "member":
            result = await mutate(
                api,
                "setMemberRole",
                host.token,
                partyId=party["id"],
                userId=who.id,
                role=role.upper(),
            )
            assert result["__typename"] == "PartyMemberPayload", result
    stranger = await person(api, "Stranger")
    return Cast(party=party, host=host, stranger=stranger, **people)


async def party_events(api: Api, party_id: str) -> list[Any]:
    """The stored events of a party's stream, oldest first, read back as the typed events of
    `watchparty.events` (every row must be in the current stored format)."""
    import json

    from sqlalchemy import select

    from watchparty.events import decode
    from watchparty.realtime.models import EventLogEntry

    async with api.state.sessionmaker() as session:
        rows = await session.scalars(
            select(EventLogEntry)
            .where(EventLogEntry.channel == f"party:{party_id}")
            .order_by(EventLogEntry.seq)
        )
        payloads = [json.loads(row.payload) for row in rows]
    assert all(payload.get("v") == 2 for payload in payloads), payloads
    events = [decode(payload) for payload in payloads]
    assert None not in events, payloads
    return events


async def event_types(api: Api, party_id: str, since: int = 0) -> list[str]:
    """The kinds of the stored events (`party.member_joined`...), oldest first."""
    return [e.KIND for e in (await party_events(api, party_id))[since:]]
