"""Chat through GraphQL: sending (validation, replies, idempotency, limits), editing, deleting,
reactions, typing, and what the party stream carries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.chat_ops import (
    CHAT_DISABLED,
    MESSAGE_NOT_FOUND,
    chat,
    chat_api,  # noqa: F401 (fixture)
    chat_stream,
    error,
    history,
    next_chat,
    send,
)
from tests.parties_ops import cast, create_party, joined, mutate, person
from tests.support import Api, live_server, make_settings, running_app


async def _party(api: Api, **settings: Any) -> tuple[Any, Any, str]:
    host = await person(api, "Host")
    party = await create_party(api, host, **settings)
    guest = await person(api, "Guest")
    await joined(api, guest, code=party["code"])
    return host, guest, party["id"]


def _validation(message: str, field: str) -> dict[str, Any]:
    return error("ValidationError", "VALIDATION", message, field)


async def test_send_returns_the_stored_plain_text(any_api: Api) -> None:
    host, guest, party_id = await _party(any_api)
    sent = await send(any_api, guest.token, party_id, "  <b>hi</b>\n\tthere  ", clientId="c-1")
    assert sent["body"] == "<b>hi</b>\n\tthere"  # trimmed, never HTML-escaped or rendered
    assert sent["partyId"] == party_id
    assert sent["author"] == {"id": guest.id, "displayName": "Guest"}
    assert (sent["edited"], sent["deleted"], sent["hidden"]) == (False, False, False)
    assert (sent["editedAt"], sent["replyTo"], sent["reactions"]) == (None, None, [])
    assert sent["clientId"] == "c-1"
    assert sent["cursor"] == "1"  # the party's first message
    second = await send(any_api, host.token, party_id, "welcome")
    assert second["cursor"] == "2"
    page = await history(any_api, guest.token, party_id)
    assert [e["node"] for e in page["edges"]] == [second, sent]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "A message cannot be empty."),
        (" \n\t ", "A message cannot be empty."),
        ("é" * 2001, "A message has at most 2000 characters (2001 given)."),
        ("bell\x07", "Control characters are not allowed."),
        ("nul\x00byte", "Control characters are not allowed."),
        ("c1\x85 in the middle", "Control characters are not allowed."),
    ],
)
async def test_invalid_bodies_are_refused(api: Api, body: str, message: str) -> None:
    _, guest, party_id = await _party(api)
    result = await chat(api, "sendMessage", guest.token, partyId=party_id, body=body)
    assert result == _validation(message, "body")
    assert (await history(api, guest.token, party_id))["edges"] == []


async def test_length_counts_characters_not_bytes(api: Api) -> None:
    _, guest, party_id = await _party(api)
    sent = await send(api, guest.token, party_id, "🍿" * 2000)  # 8000 bytes in UTF-8
    assert sent["body"] == "🍿" * 2000


async def test_client_id_is_at_most_64_characters(api: Api) -> None:
    _, guest, party_id = await _party(api)
    result = await chat(
        api, "sendMessage", guest.token, partyId=party_id, body="x", clientId="c" * 65
    )
    assert result == _validation("clientId has 1..64 characters.", "clientId")


async def test_replies_show_a_preview_of_a_message_of_the_same_party(any_api: Api) -> None:
    host, guest, party_id = await _party(any_api)
    original = await send(any_api, host.token, party_id, "a" * 300)
    reply = await send(any_api, guest.token, party_id, "yes", replyToId=original["id"])
    assert reply["replyTo"] == {
        "id": original["id"],
        "author": {"id": host.id},
        "body": "a" * 199 + "…",
        "deleted": False,
        "cursor": original["cursor"],
    }
    other_host, _, other_party = await _party(any_api)
    elsewhere = await send(any_api, other_host.token, other_party, "elsewhere")
    for bad in (elsewhere["id"], "not-an-id"):
        result = await chat(
            any_api, "sendMessage", guest.token, partyId=party_id, body="x", replyToId=bad
        )
        assert result == _validation("No such message in this party.", "replyToId")


async def test_same_client_id_returns_the_same_message(any_api: Api) -> None:
    host, guest, party_id = await _party(any_api)
    first = await send(any_api, guest.token, party_id, "once", clientId="retry-1")
    again = await send(any_api, guest.token, party_id, "once (retried)", clientId="retry-1")
    assert again == first
    other = await send(any_api, host.token, party_id, "mine", clientId="retry-1")  # other user
    assert other["id"] != first["id"]
    page = await history(any_api, guest.token, party_id)
    assert [e["node"]["id"] for e in page["edges"]] == [other["id"], first["id"]]


async def test_concurrent_retries_make_one_message(api: Api) -> None:
    _, guest, party_id = await _party(api)
    results = await asyncio.gather(
        *(
            chat(api, "sendMessage", guest.token, partyId=party_id, body="hi", clientId="same")
            for _ in range(6)
        )
    )
    assert {r["__typename"] for r in results} == {"ChatMessagePayload"}
    assert len({r["message"]["id"] for r in results}) == 1
    page = await history(api, guest.token, party_id)
    assert len(page["edges"]) == 1


async def test_chat_disabled_and_ended_parties_refuse_messages(any_api: Api) -> None:
    host, guest, party_id = await _party(any_api)
    kept = await send(any_api, guest.token, party_id, "before")
    off = await mutate(any_api, "updateParty", host.token, partyId=party_id, chatEnabled=False)
    assert off["__typename"] == "PartyPayload"
    result = await chat(any_api, "sendMessage", guest.token, partyId=party_id, body="x")
    assert result == CHAT_DISABLED
    typing = await chat(any_api, "setTyping", guest.token, partyId=party_id, typing=True)
    assert typing == CHAT_DISABLED
    edit = await chat(any_api, "editMessage", guest.token, messageId=kept["id"], body="y")
    assert edit == CHAT_DISABLED
    on = await mutate(any_api, "updateParty", host.token, partyId=party_id, chatEnabled=True)
    assert on["__typename"] == "PartyPayload"
    ended = await mutate(any_api, "endParty", host.token, partyId=party_id)
    assert ended["__typename"] == "PartyPayload"
    result = await chat(any_api, "sendMessage", guest.token, partyId=party_id, body="x")
    assert result == error(
        "PartyEndedError", "PARTY_ENDED", "This party has ended: its chat is read-only."
    )
    page = await history(any_api, guest.token, party_id)  # history stays readable
    assert [e["node"]["body"] for e in page["edges"]] == ["before"]


async def test_flood_limit_per_member_and_party(pg_url: str, tmp_path: Any) -> None:
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path, rate_limit_chat="3/60")
    async with running_app(settings, worker=False) as api:
        host, guest, party_id = await _party(api)
        for n in range(3):
            await send(api, guest.token, party_id, f"m{n}", clientId=f"c{n}")
        limited = await chat(api, "sendMessage", guest.token, partyId=party_id, body="m3")
        assert limited["__typename"] == "RateLimited"
        assert limited["code"] == "RATE_LIMITED"
        assert 1 <= limited["retryAfterSeconds"] <= 60
        # A retry of a message already sent is answered, not limited; others are not limited.
        retried = await send(api, guest.token, party_id, "m0", clientId="c0")
        assert retried["body"] == "m0"
        await send(api, host.token, party_id, "host is fine")
        page = await history(api, guest.token, party_id)
        assert [e["node"]["body"] for e in page["edges"]] == ["host is fine", "m2", "m1", "m0"]


async def test_edit_by_the_author_only(any_api: Api) -> None:
    c = await cast(any_api)
    party_id = c.party["id"]
    sent = await send(any_api, c.member.token, party_id, "tpyo")
    edited = await chat(any_api, "editMessage", c.member.token, messageId=sent["id"], body="typo")
    message = edited["message"]
    assert (message["body"], message["edited"], message["cursor"]) == ("typo", True, "1")
    assert message["editedAt"] is not None
    for other in (c.host, c.moderator):
        refused = await chat(any_api, "editMessage", other.token, messageId=sent["id"], body="x")
        assert refused == error("NotAllowed", "NOT_ALLOWED", "Only its author can edit a message.")
    blank = await chat(any_api, "editMessage", c.member.token, messageId=sent["id"], body=" ")
    assert blank == _validation("A message cannot be empty.", "body")
    missing = await chat(any_api, "editMessage", c.member.token, messageId=c.party["id"], body="x")
    assert missing == MESSAGE_NOT_FOUND


async def test_delete_leaves_a_tombstone(any_api: Api) -> None:
    c = await cast(any_api)
    party_id = c.party["id"]
    sent = await send(any_api, c.member.token, party_id, "oops")
    await chat(any_api, "reactToMessage", c.host.token, messageId=sent["id"], emoji="🔥")
    reply = await send(any_api, c.host.token, party_id, "what?", replyToId=sent["id"])
    deleted = await chat(any_api, "deleteMessage", c.member.token, messageId=sent["id"])
    tombstone = deleted["message"]
    assert (tombstone["body"], tombstone["deleted"], tombstone["reactions"]) == (None, True, [])
    assert tombstone["author"] == {"id": c.member.id, "displayName": "Member"}
    again = await chat(any_api, "deleteMessage", c.member.token, messageId=sent["id"])
    assert again == deleted  # idempotent
    page = await history(any_api, c.member.token, party_id)
    nodes = [e["node"] for e in page["edges"]]
    assert [n["id"] for n in nodes] == [reply["id"], sent["id"]]
    assert nodes[1] == tombstone
    assert nodes[0]["replyTo"] == {
        "id": sent["id"],
        "author": {"id": c.member.id},
        "body": None,
        "deleted": True,
        "cursor": sent["cursor"],
    }
    edit = await chat(any_api, "editMessage", c.member.token, messageId=sent["id"], body="x")
    assert edit == MESSAGE_NOT_FOUND
    react = await chat(any_api, "reactToMessage", c.host.token, messageId=sent["id"], emoji="🔥")
    assert react == MESSAGE_NOT_FOUND


async def test_moderators_delete_messages_of_lower_roles_only(any_api: Api) -> None:
    c = await cast(any_api)
    party_id = c.party["id"]
    by = {
        name: await send(any_api, who.token, party_id, name)
        for name, who in (("member", c.member), ("moderator", c.moderator), ("cohost", c.cohost))
    }
    refused = error(
        "NotAllowed", "NOT_ALLOWED", "Only its author or a moderator can delete this message."
    )

    async def delete(who: Any, target: str) -> dict[str, Any]:
        return await chat(any_api, "deleteMessage", who.token, messageId=by[target]["id"])

    assert await delete(c.member, "moderator") == refused
    assert await delete(c.moderator, "cohost") == refused
    assert (await delete(c.moderator, "moderator"))["message"]["deleted"] is True  # their own
    assert (await delete(c.moderator, "member"))["message"]["deleted"] is True
    assert (await delete(c.host, "cohost"))["message"]["deleted"] is True
    log = await any_api.gql(
        "query($id: ID!) { party(id: $id) { moderationLog { edges { node { action "
        "actor { id } target { id } } } } } }",
        {"id": party_id},
        token=c.host.token,
    )
    entries = [e["node"] for e in log.data["party"]["moderationLog"]["edges"]]
    deletions = [e for e in entries if e["action"] == "DELETE_MESSAGE"]
    assert deletions == [
        {"action": "DELETE_MESSAGE", "actor": {"id": c.host.id}, "target": {"id": c.cohost.id}},
        {
            "action": "DELETE_MESSAGE",
            "actor": {"id": c.moderator.id},
            "target": {"id": c.member.id},
        },
    ]


async def test_reactions_count_once_per_member_and_emoji(any_api: Api) -> None:
    host, guest, party_id = await _party(any_api)
    sent = await send(any_api, host.token, party_id, "react to me")
    mid = sent["id"]
    for _ in range(2):
        answer = await chat(any_api, "reactToMessage", guest.token, messageId=mid, emoji="🔥")
    assert answer["message"]["reactions"] == [{"emoji": "🔥", "count": 1, "reactedByMe": True}]
    answer = await chat(any_api, "reactToMessage", host.token, messageId=mid, emoji="👍")
    assert answer["message"]["reactions"] == [
        {"emoji": "👍", "count": 1, "reactedByMe": True},
        {"emoji": "🔥", "count": 1, "reactedByMe": False},
    ]
    answer = await chat(any_api, "removeMessageReaction", guest.token, messageId=mid, emoji="🔥")
    assert answer["message"]["reactions"] == [{"emoji": "👍", "count": 1, "reactedByMe": False}]
    answer = await chat(any_api, "removeMessageReaction", guest.token, messageId=mid, emoji="🔥")
    assert answer["__typename"] == "ChatMessagePayload"  # removing nothing is fine
    bad = await chat(any_api, "reactToMessage", guest.token, messageId=mid, emoji="<script>")
    assert bad == _validation("This emoji is not allowed (see allowedEmoji).", "emoji")
    page = await history(any_api, guest.token, party_id)
    assert page["edges"][0]["node"]["reactions"] == [
        {"emoji": "👍", "count": 1, "reactedByMe": False}
    ]


async def test_allowed_emoji(any_api: Api) -> None:
    from watchparty.kit.emoji import ALLOWED_EMOJI

    result = await any_api.gql("{ allowedEmoji }")
    assert result.data["allowedEmoji"] == list(ALLOWED_EMOJI)


async def test_the_stream_carries_messages_in_history_order(chat_api: Api) -> None:  # noqa: F811
    api = chat_api
    host, guest, party_id = await _party(api)
    async with live_server(api.app) as base, chat_stream(base, guest.token, party_id) as stream:
        assert (await stream.next())["event"]["__typename"] == "PartySnapshot"
        sent = [await send(api, host.token, party_id, f"m{n}") for n in range(5)]
        await asyncio.gather(*(send(api, guest.token, party_id, f"g{n}") for n in range(5)))
        seen = [(await next_chat(stream))["event"]["message"] for _ in range(10)]
        edited = await chat(api, "editMessage", host.token, messageId=sent[0]["id"], body="e")
        updated = await next_chat(stream)
        await chat(api, "reactToMessage", guest.token, messageId=sent[1]["id"], emoji="🎉")
        reacted = await next_chat(stream)
        await chat(api, "deleteMessage", host.token, messageId=sent[2]["id"])
        deleted = await next_chat(stream)
        await chat(api, "setTyping", guest.token, partyId=party_id, typing=True)
        await chat(api, "setTyping", guest.token, partyId=party_id, typing=True)  # throttled
        await chat(api, "setTyping", guest.token, partyId=party_id, typing=False)
        typing = [(await stream.next_event("PresenceChanged"))["event"] for _ in range(2)]
    assert seen[:5] == sent
    page = await history(api, guest.token, party_id, last=10)
    assert [m["id"] for m in reversed(seen)] == [e["node"]["id"] for e in page["edges"]]
    assert [m["cursor"] for m in reversed(seen)] == [e["cursor"] for e in page["edges"]]
    assert [int(m["cursor"]) for m in seen] == list(range(1, 11))
    assert updated["event"] == {"__typename": "ChatMessageUpdated", "message": edited["message"]}
    reaction = reacted["event"]["message"]["reactions"]
    assert reaction == [{"emoji": "🎉", "count": 1, "reactedByMe": True}]  # the guest's stream
    assert deleted["event"] == {"__typename": "ChatMessageDeleted", "messageId": sent[2]["id"]}
    assert typing == [
        {"__typename": "TypingChanged", "userId": guest.id, "typing": True, "expiresInMs": 5000},
        {"__typename": "TypingChanged", "userId": guest.id, "typing": False, "expiresInMs": None},
    ]


async def test_refused_changes_publish_nothing(any_api: Api) -> None:
    from tests.parties_ops import event_types

    host, guest, party_id = await _party(any_api)
    before = len(await event_types(any_api, party_id))
    await chat(any_api, "sendMessage", guest.token, partyId=party_id, body="")
    sent = await send(any_api, guest.token, party_id, "ok", clientId="k")
    await send(any_api, guest.token, party_id, "ok", clientId="k")  # a retry: no second event
    await chat(any_api, "editMessage", host.token, messageId=sent["id"], body="no")
    await chat(any_api, "reactToMessage", host.token, messageId=sent["id"], emoji="🔥")
    await chat(any_api, "reactToMessage", host.token, messageId=sent["id"], emoji="🔥")
    assert (await event_types(any_api, party_id))[before:] == [
        "chat.message_added",
        "chat.message_updated",
    ]


async def test_muted_members_can_neither_send_nor_edit(any_api: Api) -> None:
    c = await cast(any_api)
    party_id = c.party["id"]
    sent = await send(any_api, c.member.token, party_id, "before the mute")
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    muted = await any_api.gql(
        "mutation($input: MuteMemberInput!) { muteMember(input: $input) { __typename } }",
        {"input": {"partyId": party_id, "userId": c.member.id, "until": until}},
        token=c.moderator.token,
    )
    assert muted.data["muteMember"]["__typename"] == "MuteMemberPayload"
    expected = {
        **error("Muted", "MUTED", f"You are muted in this party until {until}."),
        "until": until,
    }
    assert await chat(any_api, "sendMessage", c.member.token, partyId=party_id, body="x") == (
        expected
    )
    edit = await chat(any_api, "editMessage", c.member.token, messageId=sent["id"], body="y")
    assert edit == expected
    retry_of_old = await chat(
        any_api, "sendMessage", c.member.token, partyId=party_id, body="z", clientId="new"
    )
    assert retry_of_old == expected
    await send(any_api, c.host.token, party_id, "others still talk")


async def test_slow_mode_answers_rate_limited(any_api: Api) -> None:
    c = await cast(any_api)
    party_id = c.party["id"]
    slow = await any_api.gql(
        "mutation($input: SetSlowModeInput!) { setSlowMode(input: $input) { __typename } }",
        {"input": {"partyId": party_id, "seconds": 600}},
        token=c.host.token,
    )
    assert slow.data["setSlowMode"]["__typename"] == "SetSlowModePayload"
    await send(any_api, c.member.token, party_id, "first", clientId="one")
    limited = await chat(any_api, "sendMessage", c.member.token, partyId=party_id, body="2nd")
    assert limited["__typename"] == "RateLimited"
    assert limited["code"] == "RATE_LIMITED"
    assert 599 <= limited["retryAfterSeconds"] <= 600
    assert limited["message"] == (
        f"Slow mode is on: wait {limited['retryAfterSeconds']} seconds before posting again."
    )
    again = await send(any_api, c.member.token, party_id, "first", clientId="one")  # a retry
    assert again["body"] == "first"
    await send(any_api, c.moderator.token, party_id, "moderators are exempt")
    await send(any_api, c.moderator.token, party_id, "twice")


async def test_reacted_by_me_beyond_the_reactors_carried_in_payloads(
    any_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchparty.chat import history as chat_history

    monkeypatch.setattr(chat_history, "REACTORS_CAP", 1)  # payloads carry 1 reactor per emoji
    host, guest, party_id = await _party(any_api)
    third = await person(any_api, "Third")
    party = await any_api.gql(
        "query($id: ID!) { party(id: $id) { code } }", {"id": party_id}, token=host.token
    )
    await joined(any_api, third, code=party.data["party"]["code"])
    sent = await send(any_api, host.token, party_id, "popular")
    for who in (host, guest):
        await chat(any_api, "reactToMessage", who.token, messageId=sent["id"], emoji="👍")
    for who, mine in ((host, True), (guest, True), (third, False)):
        page = await history(any_api, who.token, party_id)
        reactions = page["edges"][0]["node"]["reactions"]
        assert reactions == [{"emoji": "👍", "count": 2, "reactedByMe": mine}], who.name
