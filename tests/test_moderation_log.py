"""`party.moderationLog`: every moderation action, exactly, newest first, moderators only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.parties_ops import cast, create_party, join, mutate, party_query, person
from tests.support import Api
from tests.test_chat_moderation import op, send

ENTRY = (
    "id action actor { id } target { id } reason until role seconds "
    "message { id bodySnapshot deleted } createdAt"
)


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0).isoformat()


async def log(api: Api, party_id: str, token: str | None, args: str = "first: 50") -> Any:
    party = await party_query(
        api,
        party_id,
        token,
        f"moderationLog({args}) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage "
        f"startCursor endCursor }} edges {{ cursor node {{ {ENTRY} }} }} }}",
    )
    return party["moderationLog"]


def entry(
    action: str,
    actor: str,
    target: str | None = None,
    *,
    reason: str | None = None,
    until: str | None = None,
    role: str | None = None,
    seconds: int | None = None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "action": action,
        "actor": {"id": actor},
        "target": None if target is None else {"id": target},
        "reason": reason,
        "until": until,
        "role": role,
        "seconds": seconds,
        "message": message,
    }


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries without their id and createdAt (checked separately)."""
    found = []
    for edge in connection["edges"]:
        node = dict(edge["node"])
        assert node.pop("id") and node.pop("createdAt")
        found.append(node)
    return found


async def test_every_action_is_logged_with_actor_target_and_reason(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    mod, member = c.moderator, c.member
    until = later(hours=2)
    assert (await op(api, "muteMember", mod, partyId=pid, userId=member.id, until=until,
                     reason="spam"))["__typename"] == "MuteMemberPayload"  # fmt: skip
    await op(api, "unmuteMember", mod, partyId=pid, userId=member.id, reason="served")
    rude = await send(api, member, pid, "rude words")
    other = await send(api, member, pid, "more words")
    await op(api, "hideMessage", mod, messageId=rude["id"], reason="rude")
    deleted = await op(api, "deleteMessage", mod, messageId=other["id"])
    assert deleted["__typename"] == "ChatMessagePayload"
    # The author deleting their own message is not moderation: nothing logged for it.
    own = await send(api, member, pid, "oops")
    await op(api, "deleteMessage", member, messageId=own["id"])
    for role in ("MODERATOR", "MEMBER"):
        answer = await mutate(
            api, "setMemberRole", c.host.token, partyId=pid, userId=member.id, role=role
        )
        assert answer["__typename"] == "PartyMemberPayload"
    await mutate(api, "kickMember", mod.token, partyId=pid, userId=member.id)
    ban_until = later(days=1)
    banned = await mutate(
        api, "banMember", mod.token, partyId=pid, userId=c.stranger.id, until=ban_until
    )
    assert banned["__typename"] == "PartyMemberPayload"
    await mutate(api, "unbanMember", c.cohost.token, partyId=pid, userId=c.stranger.id)
    await op(api, "setSlowMode", mod, partyId=pid, seconds=30)

    expected = [
        entry("SLOW_MODE", mod.id, seconds=30),
        entry("UNBAN", c.cohost.id, c.stranger.id),
        entry("BAN", mod.id, c.stranger.id, until=ban_until),
        entry("KICK", mod.id, member.id),
        entry("SET_ROLE", c.host.id, member.id, role="MEMBER"),
        entry("SET_ROLE", c.host.id, member.id, role="MODERATOR"),
        entry(
            "DELETE_MESSAGE",
            mod.id,
            member.id,
            message={"id": other["id"], "bodySnapshot": None, "deleted": True},
        ),
        entry(
            "HIDE_MESSAGE",
            mod.id,
            member.id,
            reason="rude",
            message={"id": rude["id"], "bodySnapshot": "rude words", "deleted": False},
        ),
        entry("UNMUTE", mod.id, member.id, reason="served"),
        entry("MUTE", mod.id, member.id, reason="spam", until=until),
        # `cast` made the co-host and the moderator.
        entry("SET_ROLE", c.host.id, mod.id, role="MODERATOR"),
        entry("SET_ROLE", c.host.id, c.cohost.id, role="COHOST"),
    ]
    connection = await log(api, pid, c.cohost.token)
    assert nodes(connection) == expected
    assert connection["totalCount"] == len(expected)
    assert connection["pageInfo"]["hasNextPage"] is False
    assert connection["pageInfo"]["hasPreviousPage"] is False
    ids = [edge["node"]["id"] for edge in connection["edges"]]
    assert len(set(ids)) == len(ids)
    times = [datetime.fromisoformat(edge["node"]["createdAt"]) for edge in connection["edges"]]
    assert times == sorted(times, reverse=True)

    # Once the author deletes the hidden message, its text is gone from the log too.
    await joined_again(api, c.party["code"], member)
    gone = await op(api, "deleteMessage", member, messageId=rude["id"])
    assert gone["__typename"] == "ChatMessagePayload"
    hide = nodes(await log(api, pid, c.host.token))[7]
    assert hide["message"] == {"id": rude["id"], "bodySnapshot": None, "deleted": True}


async def joined_again(api: Api, code: str, who: Any) -> None:
    answer = await join(api, who, code=code)
    assert answer["__typename"] == "JoinPartyPayload", answer


async def test_only_moderators_and_above_read_the_log(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    await op(api, "setSlowMode", c.host, partyId=pid, seconds=10)
    for who in (c.moderator, c.cohost, c.host):
        connection = await log(api, pid, who.token)
        assert nodes(connection)[0] == entry("SLOW_MODE", c.host.id, seconds=10)
        assert connection["totalCount"] == 3  # with the two roles `cast` set
    for token in (c.member.token, c.stranger.token, None):
        assert await log(api, pid, token) is None


async def test_the_log_pages_newest_first(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    for seconds in range(1, 6):
        await op(api, "setSlowMode", c.moderator, partyId=pid, seconds=seconds)
    first = await log(api, pid, c.moderator.token, "first: 2")
    assert [n["seconds"] for n in nodes(first)] == [5, 4]
    assert first["totalCount"] == 7  # with the two roles `cast` set
    info = first["pageInfo"]
    assert (info["hasNextPage"], info["hasPreviousPage"]) == (True, False)
    assert info["startCursor"] == first["edges"][0]["cursor"]
    assert info["endCursor"] == first["edges"][1]["cursor"]
    second = await log(api, pid, c.moderator.token, f'first: 2, after: "{info["endCursor"]}"')
    assert [n["seconds"] for n in nodes(second)] == [3, 2]
    assert (second["pageInfo"]["hasNextPage"], second["pageInfo"]["hasPreviousPage"]) == (
        True,
        True,
    )
    end = second["pageInfo"]["endCursor"]
    last = await log(api, pid, c.moderator.token, f'first: 2, after: "{end}"')
    assert [n["seconds"] for n in nodes(last)] == [1, None]
    assert last["pageInfo"]["hasNextPage"] is True
    end = last["pageInfo"]["endCursor"]
    rest = await log(api, pid, c.moderator.token, f'first: 2, after: "{end}"')
    assert [n["action"] for n in nodes(rest)] == ["SET_ROLE"]
    assert rest["pageInfo"]["hasNextPage"] is False

    bad = await api.gql(
        'query($id: ID!) { party(id: $id) { id moderationLog(after: "nope") { totalCount } } }',
        {"id": pid},
        token=c.moderator.token,
    )
    assert bad.body["data"] == {"party": {"id": pid, "moderationLog": None}}
    assert [(e["message"], e["extensions"]["code"]) for e in bad.body["errors"]] == [
        ("`after` is not a cursor from this list.", "VALIDATION")
    ]


async def test_approvals_rejections_and_host_transfers_are_logged(any_api: Api) -> None:
    host = await person(any_api, "Host")
    party = await create_party(any_api, host, requireApproval=True)
    pid = party["id"]
    alice, bob = await person(any_api, "Alice"), await person(any_api, "Bob")
    for who in (alice, bob):
        assert (await join(any_api, who, code=party["code"]))["__typename"] == "JoinPending"
    approved = await mutate(any_api, "approveMember", host.token, partyId=pid, userId=alice.id)
    assert approved["__typename"] == "PartyMemberPayload"
    rejected = await mutate(any_api, "rejectMember", host.token, partyId=pid, userId=bob.id)
    assert rejected["__typename"] == "MemberRemovedPayload"
    moved = await mutate(any_api, "transferHost", host.token, partyId=pid, userId=alice.id)
    assert moved["__typename"] == "TransferHostPayload"
    assert nodes(await log(any_api, pid, alice.token)) == [
        entry("TRANSFER_HOST", host.id, alice.id, role="HOST"),
        entry("REJECT", host.id, bob.id),
        entry("APPROVE", host.id, alice.id),
    ]
