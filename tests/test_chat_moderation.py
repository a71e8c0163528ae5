"""Chat moderation through GraphQL: mutes, slow mode, hiding messages, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.parties_ops import (
    Cast,
    Person,
    cast,
    error,
    event_types,
    joined,
    mutate,
    party_events,
    party_query,
    person,
)
from tests.support import Api, graphql_socket, live_server

MUTE = "until reason user { id } mutedBy { id }"
MESSAGE = "id body hidden deleted author { id }"
OPS: dict[str, tuple[str, str]] = {
    "muteMember": ("MuteMemberInput", f"... on MuteMemberPayload {{ mute {{ {MUTE} }} }}"),
    "unmuteMember": ("UnmuteMemberInput", "... on UnmuteMemberPayload { partyId userId }"),
    "setSlowMode": (
        "SetSlowModeInput",
        "... on SetSlowModePayload { party { id settings { slowModeSeconds } } }",
    ),
    "hideMessage": (
        "HideMessageInput",
        f"... on ChatMessagePayload {{ chatMessage {{ {MESSAGE} }} }}",
    ),
    "unhideMessage": (
        "UnhideMessageInput",
        f"... on ChatMessagePayload {{ chatMessage {{ {MESSAGE} }} }}",
    ),
    "sendMessage": (
        "SendMessageInput",
        f"... on ChatMessagePayload {{ chatMessage {{ {MESSAGE} }} }} ... on Muted {{ until }} "
        "... on RateLimited { retryAfterSeconds }",
    ),
    "deleteMessage": (
        "DeleteMessageInput",
        f"... on ChatMessagePayload {{ chatMessage {{ {MESSAGE} }} }}",
    ),
}
NOT_MODERATOR = error("NotAllowed", "NOT_ALLOWED", "Only a moderator or above can do that.")
NOT_MEMBER = error("NotAllowed", "NOT_ALLOWED", "Only members of this party can do that.")
NOT_AUTHENTICATED = error("NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in.")
PARTY_NOT_FOUND = error("NotFound", "NOT_FOUND", "Party not found.")
MESSAGE_NOT_FOUND = error("NotFound", "NOT_FOUND", "Message not found.")
NOT_MUTED = error("NotFound", "NOT_FOUND", "This user is not muted in this party.", "userId")


async def op(api: Api, name: str, who: Person | None, **input: Any) -> dict[str, Any]:
    """Run moderation (or chat) mutation `name`; the union member with its __typename."""
    input_type, selection = OPS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {selection} "
        "... on UserError { code message field } } }"
    )
    result = await api.gql(query, {"input": input}, token=None if who is None else who.token)
    answer: dict[str, Any] = result.data[name]
    return answer


async def send(api: Api, who: Person, party_id: str, body: str = "hello") -> dict[str, Any]:
    answer = await op(api, "sendMessage", who, partyId=party_id, body=body)
    assert answer["__typename"] == "ChatMessagePayload", answer
    message: dict[str, Any] = answer["chatMessage"]
    return message


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()


async def mute_fields(api: Api, party_id: str, who: Person) -> Any:
    return await party_query(
        api, party_id, who.token, f"mutedMembers {{ {MUTE} }} myMute {{ {MUTE} }}"
    )


# -- mutes -------------------------------------------------------------------------------------


async def test_a_muted_member_cannot_post_until_unmuted(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    await send(any_api, c.member, pid, "before")
    until = in_an_hour()
    muted = await op(
        any_api,
        "muteMember",
        c.moderator,
        partyId=pid,
        userId=c.member.id,
        until=until,
        reason="  spam  ",
    )
    assert muted == {
        "__typename": "MuteMemberPayload",
        "mute": {
            "until": until,
            "reason": "spam",
            "user": {"id": c.member.id},
            "mutedBy": {"id": c.moderator.id},
        },
    }
    refused = await op(any_api, "sendMessage", c.member, partyId=pid, body="again")
    assert refused == {
        "__typename": "Muted",
        "code": "MUTED",
        "message": f"You are muted in this party until {until}.",
        "field": None,
        "until": until,
    }
    mine = {"until": until, "reason": "spam", "user": {"id": c.member.id},
            "mutedBy": {"id": c.moderator.id}}  # fmt: skip
    assert await mute_fields(any_api, pid, c.member) == {"mutedMembers": None, "myMute": mine}
    assert await mute_fields(any_api, pid, c.moderator) == {"mutedMembers": [mine], "myMute": None}
    await send(any_api, c.moderator, pid, "moderators still talk")

    unmuted = await op(any_api, "unmuteMember", c.moderator, partyId=pid, userId=c.member.id)
    assert unmuted == {"__typename": "UnmuteMemberPayload", "partyId": pid, "userId": c.member.id}
    assert (await send(any_api, c.member, pid, "back"))["body"] == "back"
    assert await mute_fields(any_api, pid, c.member) == {"mutedMembers": None, "myMute": None}
    again = await op(any_api, "unmuteMember", c.moderator, partyId=pid, userId=c.member.id)
    assert again == NOT_MUTED


async def test_a_mute_outlives_leaving_and_rejoining(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    muted = await op(api, "muteMember", c.cohost, partyId=pid, userId=c.member.id, until=None)
    assert muted["mute"]["until"] is None and muted["mute"]["reason"] is None
    left = await mutate(api, "leaveParty", c.member.token, partyId=pid)
    assert left["__typename"] == "LeavePartyPayload"
    # Someone who is not a member any more cannot be muted anew, but their mute stands.
    gone = await op(api, "muteMember", c.cohost, partyId=pid, userId=c.member.id)
    assert gone == error(
        "NotFound", "NOT_FOUND", "This user is not a member of the party.", "userId"
    )
    await joined(api, c.member, code=c.party["code"])
    refused = await op(api, "sendMessage", c.member, partyId=pid, body="I am back")
    assert refused == {
        "__typename": "Muted",
        "code": "MUTED",
        "message": "You are muted in this party.",
        "field": None,
        "until": None,
    }
    # A kick does not lift it either.
    kicked = await mutate(api, "kickMember", c.host.token, partyId=pid, userId=c.member.id)
    assert kicked["__typename"] == "MemberRemovedPayload"
    await joined(api, c.member, code=c.party["code"])
    assert (await op(api, "sendMessage", c.member, partyId=pid, body="x"))["code"] == "MUTED"
    # A former member's mute can be lifted while they are away.
    await mutate(api, "leaveParty", c.member.token, partyId=pid)
    lifted = await op(api, "unmuteMember", c.moderator, partyId=pid, userId=c.member.id)
    assert lifted["__typename"] == "UnmuteMemberPayload"


async def test_muting_again_replaces_the_mute(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    await op(api, "muteMember", c.moderator, partyId=pid, userId=c.member.id, reason="first")
    until = in_an_hour()
    again = await op(
        api, "muteMember", c.host, partyId=pid, userId=c.member.id, until=until, reason="second"
    )
    assert again["mute"] == {
        "until": until,
        "reason": "second",
        "user": {"id": c.member.id},
        "mutedBy": {"id": c.host.id},
    }
    mutes = (await mute_fields(api, pid, c.host))["mutedMembers"]
    assert [m["reason"] for m in mutes] == ["second"]


async def test_mute_input_is_validated(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]

    async def mute(**input: Any) -> dict[str, Any]:
        return await op(any_api, "muteMember", c.moderator, partyId=pid, **input)

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert await mute(userId=c.member.id, until=past) == error(
        "ValidationError",
        "VALIDATION",
        "Give a time in the future, or null to mute until unmuted.",
        "until",
    )
    far = (datetime.now(UTC) + timedelta(days=366)).isoformat()
    assert await mute(userId=c.member.id, until=far) == error(
        "ValidationError", "VALIDATION", "A mute lasts at most a year (or use null).", "until"
    )
    assert await mute(userId=c.member.id, reason="x" * 501) == error(
        "ValidationError", "VALIDATION", "At most 500 characters.", "reason"
    )
    assert await mute(userId=c.member.id, reason="bell\a") == error(
        "ValidationError", "VALIDATION", "Control characters are not allowed.", "reason"
    )
    not_member = error("NotFound", "NOT_FOUND", "This user is not a member of the party.", "userId")
    assert await mute(userId=c.stranger.id) == not_member
    assert await mute(userId="not-an-id") == not_member
    assert await mute(userId=c.moderator.id) == error(
        "NotAllowed", "NOT_ALLOWED", "You cannot mute yourself.", "userId"
    )
    # Nothing was muted by any of these.
    assert (await mute_fields(any_api, pid, c.moderator))["mutedMembers"] == []
    ok = await mute(userId=c.member.id, reason="x" * 500)
    assert ok["mute"]["reason"] == "x" * 500


async def test_moderation_reaches_strictly_lower_roles(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    for target, role in ((c.cohost, "cohost"), (c.host, "host")):
        answer = await op(api, "muteMember", c.moderator, partyId=pid, userId=target.id)
        assert answer == error("NotAllowed", "NOT_ALLOWED", f"You cannot mute a {role}.", "userId")
    # A co-host may mute a moderator, who then cannot post nor unmute themself.
    muted = await op(api, "muteMember", c.cohost, partyId=pid, userId=c.moderator.id)
    assert muted["__typename"] == "MuteMemberPayload"
    assert (await op(api, "sendMessage", c.moderator, partyId=pid, body="hi"))["code"] == "MUTED"
    assert await op(api, "unmuteMember", c.moderator, partyId=pid, userId=c.moderator.id) == error(
        "NotAllowed", "NOT_ALLOWED", "You cannot unmute yourself.", "userId"
    )
    # Unmuting follows the same reach: a moderator cannot lift a co-host's mute of a... co-host.
    await op(api, "muteMember", c.host, partyId=pid, userId=c.cohost.id)
    assert await op(api, "unmuteMember", c.moderator, partyId=pid, userId=c.cohost.id) == error(
        "NotAllowed", "NOT_ALLOWED", "You cannot unmute a cohost.", "userId"
    )
    lifted = await op(api, "unmuteMember", c.host, partyId=pid, userId=c.cohost.id)
    assert lifted["__typename"] == "UnmuteMemberPayload"


# -- slow mode ---------------------------------------------------------------------------------


async def test_slow_mode_spaces_out_members_messages(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    before = len(await event_types(any_api, pid))
    answer = await op(any_api, "setSlowMode", c.moderator, partyId=pid, seconds=60)
    assert answer == {
        "__typename": "SetSlowModePayload",
        "party": {"id": pid, "settings": {"slowModeSeconds": 60}},
    }
    events = (await party_events(any_api, pid))[before:]
    assert [e.KIND for e in events] == ["party.updated"]
    assert events[0].party["settings"]["slowModeSeconds"] == 60
    # The same value again changes nothing and publishes nothing.
    await op(any_api, "setSlowMode", c.moderator, partyId=pid, seconds=60)
    assert len(await event_types(any_api, pid)) == before + 1

    first = await send(any_api, c.member, pid, "one")
    refused = await op(any_api, "sendMessage", c.member, partyId=pid, body="two")
    assert refused == {
        "__typename": "RateLimited",
        "code": "RATE_LIMITED",
        "message": "Slow mode is on: wait 60 seconds before posting again.",
        "field": None,
        "retryAfterSeconds": 60,
    }
    # Deleting one's message does not reset the wait.
    deleted = await op(any_api, "deleteMessage", c.member, messageId=first["id"])
    assert deleted["__typename"] == "ChatMessagePayload"
    assert (await op(any_api, "sendMessage", c.member, partyId=pid, body="3"))["code"] == (
        "RATE_LIMITED"
    )
    # Moderators and above are exempt.
    for who in (c.moderator, c.cohost, c.host):
        await send(any_api, who, pid, "a")
        await send(any_api, who, pid, "b")
    # Off again: the member may post at once.
    off = await op(any_api, "setSlowMode", c.cohost, partyId=pid, seconds=0)
    assert off["party"]["settings"]["slowModeSeconds"] == 0
    assert (await send(any_api, c.member, pid, "free"))["body"] == "free"


async def test_slow_mode_input_and_party_state(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    for seconds in (-1, 3601):
        answer = await op(any_api, "setSlowMode", c.host, partyId=pid, seconds=seconds)
        assert answer == error(
            "ValidationError", "VALIDATION", "Between 0 (off) and 3600 seconds.", "seconds"
        )
    top = await op(any_api, "setSlowMode", c.host, partyId=pid, seconds=3600)
    assert top["party"]["settings"]["slowModeSeconds"] == 3600
    ended = await mutate(any_api, "endParty", c.host.token, partyId=pid)
    assert ended["__typename"] == "PartyPayload"
    answer = await op(any_api, "setSlowMode", c.host, partyId=pid, seconds=5)
    assert answer == error("PartyEndedError", "PARTY_ENDED", "This party has ended.")


# -- hiding messages ---------------------------------------------------------------------------


async def history(api: Api, party_id: str, who: Person) -> list[dict[str, Any]]:
    party = await party_query(
        api, party_id, who.token, f"messages(last: 10) {{ edges {{ node {{ {MESSAGE} }} }} }}"
    )
    return [edge["node"] for edge in party["messages"]["edges"]]


async def test_hiding_a_message_takes_its_body_out_of_every_read(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    message = await send(api, c.member, pid, "something rude")
    before = len(await event_types(api, pid))
    hidden = await op(api, "hideMessage", c.moderator, messageId=message["id"], reason="rude")
    tombstone = {
        "id": message["id"],
        "body": None,
        "hidden": True,
        "deleted": False,
        "author": {"id": c.member.id},
    }
    assert hidden == {"__typename": "ChatMessagePayload", "chatMessage": tombstone}
    for viewer in (c.member, c.moderator, c.host):
        assert await history(api, pid, viewer) == [tombstone]
    events = (await party_events(api, pid))[before:]
    assert [e.KIND for e in events] == ["chat.message_updated"]
    assert events[0].message["body"] is None and events[0].message["hidden"] is True
    # Hiding it again changes nothing and publishes nothing.
    again = await op(api, "hideMessage", c.cohost, messageId=message["id"])
    assert again == hidden
    assert len(await event_types(api, pid)) == before + 1
    # The author cannot edit it meanwhile; a moderator can show it again.
    shown = await op(api, "unhideMessage", c.cohost, messageId=message["id"])
    visible = dict(tombstone, body="something rude", hidden=False)
    assert shown == {"__typename": "ChatMessagePayload", "chatMessage": visible}
    assert await history(api, pid, c.member) == [visible]
    assert await event_types(api, pid, before) == ["chat.message_updated", "chat.message_updated"]


async def test_who_may_hide_which_message(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    by_cohost = await send(api, c.cohost, pid, "cohost speaking")
    by_moderator = await send(api, c.moderator, pid, "moderator speaking")
    by_member = await send(api, c.member, pid, "member speaking")
    assert await op(api, "hideMessage", c.moderator, messageId=by_cohost["id"]) == error(
        "NotAllowed", "NOT_ALLOWED", "You cannot hide a message of a cohost.", "messageId"
    )
    assert await op(api, "hideMessage", c.moderator, messageId=by_moderator["id"]) == error(
        "NotAllowed", "NOT_ALLOWED", "You cannot hide your own message.", "messageId"
    )
    assert await op(api, "hideMessage", c.member, messageId=by_member["id"]) == NOT_MODERATOR
    assert await op(
        api, "hideMessage", c.moderator, messageId=by_member["id"], reason="y" * 501
    ) == (error("ValidationError", "VALIDATION", "At most 500 characters.", "reason"))
    assert await op(api, "hideMessage", c.moderator, messageId="nope") == MESSAGE_NOT_FOUND
    deleted = await op(api, "deleteMessage", c.member, messageId=by_member["id"])
    assert deleted["__typename"] == "ChatMessagePayload"
    assert await op(api, "hideMessage", c.moderator, messageId=by_member["id"]) == (
        MESSAGE_NOT_FOUND
    )
    hidden = await op(api, "hideMessage", c.host, messageId=by_cohost["id"])
    assert hidden["chatMessage"]["hidden"] is True


# -- the authorization matrix ------------------------------------------------------------------

ROLES = ["anonymous", "stranger", "member", "moderator", "cohost", "host"]


def _actor(c: Cast, role: str) -> Person | None:
    return None if role == "anonymous" else getattr(c, role)


@pytest.mark.parametrize("role", ROLES)
async def test_authorization_matrix(api: Api, role: str) -> None:
    c = await cast(api)
    pid = c.party["id"]
    target = await person(api, "Target")
    await joined(api, target, code=c.party["code"])
    message = await send(api, target, pid, "hello all")
    actor = _actor(c, role)
    answers = {
        "muteMember": await op(api, "muteMember", actor, partyId=pid, userId=target.id),
        "unmuteMember": await op(api, "unmuteMember", actor, partyId=pid, userId=target.id),
        "setSlowMode": await op(api, "setSlowMode", actor, partyId=pid, seconds=5),
        "hideMessage": await op(api, "hideMessage", actor, messageId=message["id"]),
        "unhideMessage": await op(api, "unhideMessage", actor, messageId=message["id"]),
    }
    allowed = {
        "muteMember": "MuteMemberPayload",
        "unmuteMember": "UnmuteMemberPayload",
        "setSlowMode": "SetSlowModePayload",
        "hideMessage": "ChatMessagePayload",
        "unhideMessage": "ChatMessagePayload",
    }
    for name, answer in answers.items():
        if role == "anonymous":
            assert answer == NOT_AUTHENTICATED, (name, answer)
        elif role == "stranger":
            assert answer == NOT_MEMBER, (name, answer)
        elif role == "member":
            assert answer == NOT_MODERATOR, (name, answer)
        else:
            assert answer["__typename"] == allowed[name], (name, answer)


async def test_private_party_is_not_found_for_strangers(any_api: Api) -> None:
    c = await cast(any_api, visibility="PRIVATE")
    pid = c.party["id"]
    message = await send(any_api, c.member, pid, "secret")
    s = c.stranger
    assert await op(any_api, "muteMember", s, partyId=pid, userId=c.member.id) == PARTY_NOT_FOUND
    assert await op(any_api, "unmuteMember", s, partyId=pid, userId=c.member.id) == (
        PARTY_NOT_FOUND
    )
    assert await op(any_api, "setSlowMode", s, partyId=pid, seconds=5) == PARTY_NOT_FOUND
    assert await op(any_api, "hideMessage", s, messageId=message["id"]) == MESSAGE_NOT_FOUND
    assert await op(any_api, "unhideMessage", s, messageId=message["id"]) == MESSAGE_NOT_FOUND
    assert await party_query(any_api, pid, s.token, "id") is None


# -- the party stream --------------------------------------------------------------------------

STREAM = """
subscription($partyId: ID!) {
  partyEvents(partyId: $partyId) {
    event {
      __typename
      ... on ChatMessageAdded { message { id } }
      ... on ChatMessageUpdated { message { id body hidden } }
      ... on PartyUpdated { party { settings { slowModeSeconds } } }
    }
  }
}
"""


async def test_subscribers_see_hiding_and_slow_mode_live(api: Api) -> None:
    c = await cast(api)
    pid = c.party["id"]
    async with live_server(api.app) as base, graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {c.member.token}"})
        assert ack["type"] == "connection_ack"
        op_id = await socket.subscribe(STREAM, {"partyId": pid})

        async def next_event() -> dict[str, Any]:
            while True:
                message = await socket.receive(timeout=30)
                if message.get("id") != op_id:
                    continue
                assert message["type"] == "next", message
                event: dict[str, Any] = message["payload"]["data"]["partyEvents"]["event"]
                if event["__typename"] != "PresenceChanged":
                    return event

        assert (await next_event())["__typename"] == "PartySnapshot"  # then act
        message = await send(api, c.member, pid, "hidden soon")
        assert await next_event() == {
            "__typename": "ChatMessageAdded",
            "message": {"id": message["id"]},
        }
        await op(api, "hideMessage", c.moderator, messageId=message["id"], reason="no")
        assert await next_event() == {
            "__typename": "ChatMessageUpdated",
            "message": {"id": message["id"], "body": None, "hidden": True},
        }
        await op(api, "setSlowMode", c.moderator, partyId=pid, seconds=15)
        assert await next_event() == {
            "__typename": "PartyUpdated",
            "party": {"settings": {"slowModeSeconds": 15}},
        }
