"""Who may do what in chat: every operation x (anonymous, stranger, member, moderator, cohost,
host), on PUBLIC and PRIVATE parties (where strangers get the same NotFound as for nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chat_ops import (
    MESSAGE_NOT_FOUND,
    NOT_AUTHENTICATED,
    NOT_MEMBER,
    PARTY_NOT_FOUND,
    chat,
    error,
    history,
    send,
)
from tests.parties_ops import Person, cast, joined, person
from tests.support import Api

ROLES = ["anonymous", "stranger", "MEMBER", "MODERATOR", "COHOST", "HOST"]
NOT_AUTHOR = error("NotAllowed", "NOT_ALLOWED", "Only its author can edit a message.")
NOT_MODERATOR = error(
    "NotAllowed", "NOT_ALLOWED", "Only its author or a moderator can delete this message."
)


def _outsider(role: str, visibility: str, *, message: bool) -> dict[str, Any] | None:
    """The answer an anonymous viewer or a stranger gets (None for members)."""
    if role == "anonymous":
        return NOT_AUTHENTICATED
    if role == "stranger":
        if visibility == "PRIVATE":
            return MESSAGE_NOT_FOUND if message else PARTY_NOT_FOUND
        return NOT_MEMBER
    return None


@pytest.mark.parametrize("visibility", ["PUBLIC", "PRIVATE"])
async def test_chat_authorization_matrix(api: Api, visibility: str) -> None:
    c = await cast(api, visibility=visibility)
    party_id = c.party["id"]
    writer = await person(api, "Writer")
    await joined(api, writer, code=c.party["code"])
    actors: dict[str, Person | None] = {
        "anonymous": None,
        "stranger": c.stranger,
        "MEMBER": c.member,
        "MODERATOR": c.moderator,
        "COHOST": c.cohost,
        "HOST": c.host,
    }
    for role in ROLES:
        actor = actors[role]
        token = None if actor is None else actor.token
        theirs = await send(api, writer.token, party_id, f"by writer for {role}")
        outsider = _outsider(role, visibility, message=False)
        outsider_on_message = _outsider(role, visibility, message=True)

        sent = await chat(api, "sendMessage", token, partyId=party_id, body="hello")
        typing = await chat(api, "setTyping", token, partyId=party_id, typing=True)
        edit_theirs = await chat(api, "editMessage", token, messageId=theirs["id"], body="x")
        react = await chat(api, "reactToMessage", token, messageId=theirs["id"], emoji="👍")
        unreact = await chat(
            api, "removeMessageReaction", token, messageId=theirs["id"], emoji="👍"
        )
        delete = await chat(api, "deleteMessage", token, messageId=theirs["id"])
        page = await history(api, token, party_id, fields="id")

        if outsider is not None:
            assert sent == outsider, (role, sent)
            assert typing == outsider, (role, typing)
            assert edit_theirs == outsider_on_message, (role, edit_theirs)
            assert react == outsider_on_message, (role, react)
            assert unreact == outsider_on_message, (role, unreact)
            assert delete == outsider_on_message, (role, delete)
            reads = role == "stranger" and visibility == "PUBLIC"
            assert (page is not None) is reads, (role, page)
            continue
        assert actor is not None
        assert sent["__typename"] == "ChatMessagePayload", (role, sent)
        assert sent["message"]["author"]["id"] == actor.id
        assert typing == {
            "__typename": "SetTypingPayload",
            "partyId": party_id,
            "typing": True,
            "expiresInMs": 5000,
        }
        assert edit_theirs == NOT_AUTHOR, (role, edit_theirs)
        mine = await chat(api, "editMessage", token, messageId=sent["message"]["id"], body="hi!")
        assert mine["message"]["body"] == "hi!", (role, mine)
        assert react["message"]["reactions"] == [
            {"emoji": "👍", "count": 1, "reactedByMe": True}
        ], (role, react)
        assert unreact["message"]["reactions"] == [], (role, unreact)
        if role == "MEMBER":
            assert delete == NOT_MODERATOR, (role, delete)
        else:
            assert delete["message"]["deleted"] is True, (role, delete)
        assert page is not None and page["edges"], role


async def test_the_author_may_delete_after_leaving(api: Api) -> None:
    c = await cast(api, visibility="PUBLIC")
    party_id = c.party["id"]
    sent = await send(api, c.member.token, party_id, "I was here")
    left = await api.gql(
        "mutation($input: LeavePartyInput!) { leaveParty(input: $input) { __typename } }",
        {"input": {"partyId": party_id}},
        token=c.member.token,
    )
    assert left.data["leaveParty"]["__typename"] == "LeavePartyPayload"
    again = await chat(api, "sendMessage", c.member.token, partyId=party_id, body="x")
    assert again == NOT_MEMBER
    deleted = await chat(api, "deleteMessage", c.member.token, messageId=sent["id"])
    assert deleted["message"]["deleted"] is True
