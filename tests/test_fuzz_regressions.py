"""Failures the fuzzer (tests/test_fuzz_api.py) found outside the known issues, pinned down."""

from __future__ import annotations

import asyncio

import pytest

from tests.playback_ops import create_party, member
from tests.support import PASSWORD, Api, unique_email

UPDATE = """mutation($input: UpdatePartyInput!) { updateParty(input: $input) {
    __typename
    ... on PartyPayload { party { title description settings { maxScreenShares } } }
    ... on UserError { code message field } } }"""


@pytest.mark.parametrize(
    "name",
    [
        "title",
        "visibility",
        "maxMembers",
        "chatEnabled",
        "bufferingTimeoutSeconds",
        "maxScreenShares",
    ],
)
async def test_update_party_with_an_explicit_null_setting_is_a_validation_error(
    api: Api, name: str
) -> None:
    """The schema declares every UpdatePartyInput field nullable; a null for a setting that
    cannot be empty answered "Unexpected error." (Strawberry's `Maybe[int]` raised)."""
    party = await create_party(api)
    result = await api.gql(
        UPDATE, {"input": {"partyId": party.id, name: None}}, token=party.host.token
    )
    assert result.status == 200
    assert result.data["updateParty"] == {
        "__typename": "ValidationError",
        "code": "VALIDATION",
        "message": f"{name} cannot be null; leave it out to keep it.",
        "field": name,
    }


async def test_update_party_with_a_null_description_clears_it(api: Api) -> None:
    party = await create_party(api, description="Bring snacks")
    result = await api.gql(
        UPDATE, {"input": {"partyId": party.id, "description": None}}, token=party.host.token
    )
    assert result.data["updateParty"] == {
        "__typename": "PartyPayload",
        "party": {"title": "Movie night", "description": None, "settings": {"maxScreenShares": 1}},
    }


SUCCESS = {
    "muteMember": ("MuteMemberInput", "... on MuteMemberPayload { mute { until } }"),
    "banMember": ("BanMemberInput", "... on PartyMemberPayload { member { status } }"),
}


def moderate(name: str) -> str:
    input_type, success = SUCCESS[name]
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {success} "
        "... on UserError { code message field } } }"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("muteMember", {"mute": {"until": "2027-03-01T20:00:00+00:00"}}),
        ("banMember", {"member": {"status": "BANNED"}}),
    ],
)
async def test_a_time_without_an_offset_is_utc(
    api: Api, name: str, expected: dict[str, object]
) -> None:
    """`until: "2027-03-01T20:00:00"` (no offset) answered "Unexpected error." (a naive time
    compared with an aware one); every DateTime input now reads a missing offset as UTC."""
    party = await create_party(api)
    who = await member(api, party)
    result = await api.gql(
        moderate(name),
        {"input": {"partyId": party.id, "userId": who.id, "until": "2027-03-01T20:00:00"}},
        token=party.host.token,
    )
    payload = result.data[name]
    assert payload.pop("__typename") in ("MuteMemberPayload", "PartyMemberPayload"), payload
    assert payload == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("banMember", "9999-12-31T23:59:59-14:00"), ("muteMember", "9999-12-31T23:59:59.9-00:01")],
)
async def test_a_time_outside_the_utc_range_is_a_request_error(
    api: Api, name: str, value: str
) -> None:
    """A DateTime that does not exist in UTC (year 10000 once converted) answered "Unexpected
    error." (OverflowError from PostgreSQL's driver); now its variable fails coercion."""
    party = await create_party(api)
    who = await member(api, party)
    result = await api.gql(
        moderate(name),
        {"input": {"partyId": party.id, "userId": who.id, "until": value}},
        token=party.host.token,
    )
    assert result.status == 200
    assert result.body["errors"] == [
        {
            "message": "Variable '$input' has invalid value at .until: Value cannot represent "
            "a DateTime. Expected an ISO 8601 date and time, such as 2026-01-31T20:00:00Z.",
            "locations": [{"line": 1, "column": 10}],
            "extensions": {"code": "VALIDATION"},
        }
    ]
    assert "data" not in result.body


async def test_a_scheduled_start_before_year_one_in_utc_is_a_request_error(api: Api) -> None:
    party = await create_party(api)
    result = await api.gql(
        """mutation($input: CreatePartyInput!) { createParty(input: $input) { __typename } }""",
        {"input": {"title": "Old", "scheduledStart": "0001-01-01T00:00:00+14:00"}},
        token=party.host.token,
    )
    assert [error["extensions"] for error in result.body["errors"]] == [{"code": "VALIDATION"}]
    assert "data" not in result.body


async def test_simultaneous_sign_ups_with_one_address_get_one_account_and_conflicts(
    api: Api,
) -> None:
    """Ten `register` calls at once with one address: all passed the "already exists" check,
    one insert won, and the others answered "Unexpected error." (a unique violation)."""
    email = unique_email("race")
    register = """mutation($input: RegisterInput!) { register(input: $input) {
        __typename ... on UserError { code message field } } }"""
    variables = {"input": {"email": email, "password": PASSWORD, "displayName": "Racer"}}
    results = await asyncio.gather(*[api.gql(register, variables) for _ in range(10)])
    answers = [result.data["register"] for result in results]
    assert answers.count({"__typename": "AuthPayload"}) == 1, answers
    conflict = {
        "__typename": "Conflict",
        "code": "CONFLICT",
        "message": "An account with this email already exists.",
        "field": "email",
    }
    assert answers.count(conflict) == 9, answers
