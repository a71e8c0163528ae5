"""kickMember, banMember and unbanMember take an optional `reason` that lands in the log."""

from __future__ import annotations

from typing import Any

from tests.parties_ops import cast, error, mutate, party_query
from tests.support import Api
from tests.test_moderation_log import entry, log, nodes

TOO_LONG = error("ValidationError", "VALIDATION", "At most 500 characters.", "reason")
CONTROL = error("ValidationError", "VALIDATION", "Control characters are not allowed.", "reason")


async def member_ids(api: Api, party_id: str, token: str) -> list[str]:
    party = await party_query(
        api, party_id, token, "members(first: 50) { edges { node { user { id } } } }"
    )
    return sorted(edge["node"]["user"]["id"] for edge in party["members"]["edges"])


async def test_reasons_are_trimmed_and_logged(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    kicked = await mutate(
        any_api, "kickMember", c.moderator.token, partyId=pid, userId=c.member.id,
        reason="  spamming the chat\n",
    )  # fmt: skip
    assert kicked == {"__typename": "MemberRemovedPayload", "partyId": pid, "userId": c.member.id}
    banned = await mutate(
        any_api, "banMember", c.cohost.token, partyId=pid, userId=c.stranger.id,
        reason="x" * 500,
    )  # fmt: skip
    assert banned["__typename"] == "PartyMemberPayload"
    assert banned["member"]["status"] == "BANNED"
    unbanned = await mutate(
        any_api, "unbanMember", c.host.token, partyId=pid, userId=c.stranger.id, reason="   "
    )
    assert unbanned["__typename"] == "PartyMemberPayload"
    # Without a reason, as before.
    again = await mutate(any_api, "banMember", c.host.token, partyId=pid, userId=c.member.id)
    assert again["__typename"] == "PartyMemberPayload"

    assert nodes(await log(any_api, pid, c.host.token))[:4] == [
        entry("BAN", c.host.id, c.member.id),
        entry("UNBAN", c.host.id, c.stranger.id),  # blank: no reason
        entry("BAN", c.cohost.id, c.stranger.id, reason="x" * 500),
        entry("KICK", c.moderator.id, c.member.id, reason="spamming the chat"),
    ]


async def test_a_bad_reason_is_refused_and_nothing_happens(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    before = await member_ids(any_api, pid, c.host.token)
    assert c.member.id in before
    log_before = await log(any_api, pid, c.host.token)

    for reason, expected in (("x" * 501, TOO_LONG), ("rude\x07", CONTROL)):
        kick = await mutate(
            any_api, "kickMember", c.moderator.token, partyId=pid, userId=c.member.id,
            reason=reason,
        )  # fmt: skip
        assert kick == expected
        ban = await mutate(
            any_api, "banMember", c.moderator.token, partyId=pid, userId=c.member.id,
            reason=reason,
        )  # fmt: skip
        assert ban == expected
    assert await member_ids(any_api, pid, c.host.token) == before
    assert await log(any_api, pid, c.host.token) == log_before

    # An unban with a bad reason leaves the ban in force: the stranger still cannot join.
    banned = await mutate(any_api, "banMember", c.host.token, partyId=pid, userId=c.stranger.id)
    assert banned["__typename"] == "PartyMemberPayload"
    unban = await mutate(
        any_api, "unbanMember", c.host.token, partyId=pid, userId=c.stranger.id, reason="y" * 501
    )
    assert unban == TOO_LONG
    refused: dict[str, Any] = await mutate(
        any_api, "joinParty", c.stranger.token, code=c.party["code"]
    )
    assert refused["__typename"] == "Banned"
    assert [n["action"] for n in nodes(await log(any_api, pid, c.host.token))][:1] == ["BAN"]


async def test_a_bad_reason_from_someone_without_the_role_is_not_allowed(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    answer = await mutate(
        any_api, "kickMember", c.member.token, partyId=pid, userId=c.moderator.id,
        reason="x" * 501,
    )  # fmt: skip
    assert answer == error("NotAllowed", "NOT_ALLOWED", "Only a moderator or above can do that.")
    assert c.moderator.id in await member_ids(any_api, pid, c.host.token)
