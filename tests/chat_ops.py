"""GraphQL documents and helpers shared by the tests/test_chat_*.py files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest

from tests.support import Api, GraphQLResponse, graphql_socket, make_settings, running_app
from tests.test_party_stream_support import PartyStream

MESSAGE = (
    "id partyId author { id displayName } body createdAt editedAt edited deleted hidden "
    "clientId cursor reactions { emoji count reactedByMe } "
    "replyTo { id author { id } body deleted cursor }"
)
ERRORS = "... on UserError { code message field }"
RATE_LIMITED = "... on RateLimited { retryAfterSeconds }"
MUTED = "... on Muted { until }"
EXTRA_ERRORS = {
    "sendMessage": f"{RATE_LIMITED} {MUTED}",
    "editMessage": MUTED,
    "reactToMessage": RATE_LIMITED,
    "removeMessageReaction": RATE_LIMITED,
}
PAYLOAD = f"... on ChatMessagePayload {{ chatMessage {{ {MESSAGE} }} }}"

# mutation name -> (input type, selection of the success payload)
MUTATIONS: dict[str, tuple[str, str]] = {
    "sendMessage": ("SendMessageInput", PAYLOAD),
    "editMessage": ("EditMessageInput", PAYLOAD),
    "deleteMessage": ("DeleteMessageInput", PAYLOAD),
    "reactToMessage": ("MessageReactionInput", PAYLOAD),
    "removeMessageReaction": ("MessageReactionInput", PAYLOAD),
    "setTyping": ("SetTypingInput", "... on SetTypingPayload { partyId typing expiresInMs }"),
}

CHAT_EVENTS = f"""
subscription PartyEvents($partyId: ID!, $after: String) {{
  partyEvents(partyId: $partyId, after: $after) {{
    cursor
    event {{
      __typename
      ... on PartySnapshot {{ party {{ id }} }}
      ... on ChatMessageAdded {{ message {{ {MESSAGE} }} }}
      ... on ChatMessageUpdated {{ message {{ {MESSAGE} }} }}
      ... on ChatMessageDeleted {{ messageId }}
      ... on TypingChanged {{ userId typing expiresInMs }}
    }}
  }}
}}
"""


class Client(Protocol):
    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResponse: ...


async def chat(api: Client, name: str, token: str | None = None, **input: Any) -> dict[str, Any]:
    """Run chat mutation `name` with `input`; the union member with its __typename (a
    ChatMessagePayload's `chatMessage` under the key `message`)."""
    input_type, selection = MUTATIONS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        f"{selection} {ERRORS} {EXTRA_ERRORS.get(name, '')} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=token)
    payload: dict[str, Any] = result.data[name]
    if "chatMessage" in payload:  # renamed for the tests' convenience
        payload["message"] = payload.pop("chatMessage")
    return payload


async def send(api: Client, token: str, party_id: str, body: str, **more: Any) -> dict[str, Any]:
    """Send a message that must succeed; return the message."""
    result = await chat(api, "sendMessage", token, partyId=party_id, body=body, **more)
    assert result["__typename"] == "ChatMessagePayload", result
    message: dict[str, Any] = result["message"]
    return message


async def history(
    api: Client,
    token: str | None,
    party_id: str,
    last: int | None = 10,
    before: str | None = None,
    fields: str = MESSAGE,
) -> Any:
    """`party.messages` (None when not readable); raises on GraphQL errors. `last` None: the
    field's default page size (50); with `reactions` selected that exceeds the query cost limit,
    which prices every list at 100 (see the report: reactions are bounded by allowedEmoji)."""
    args = {"id": party_id, "last": last, "before": before}
    query = (
        "query($id: ID!, $last: Int, $before: String) { party(id: $id) { "
        "messages(last: $last, before: $before) { "
        f"edges {{ cursor node {{ {fields} }} }} "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"
    )
    if last is None:
        query = query.replace("messages(last: $last, before: $before)", "messages(before: $before)")
        query = query.replace("$last: Int, ", "")
        args.pop("last")
    result = await api.gql(query, args, token=token)
    party = result.data["party"]
    return None if party is None else party["messages"]


def bodies(connection: dict[str, Any]) -> list[str | None]:
    return [edge["node"]["body"] for edge in connection["edges"]]


def error(typename: str, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"__typename": typename, "code": code, "message": message, "field": field}


MESSAGE_NOT_FOUND = error("NotFound", "NOT_FOUND", "Message not found.")
PARTY_NOT_FOUND = error("NotFound", "NOT_FOUND", "Party not found.")
NOT_AUTHENTICATED = error("NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in.")
NOT_MEMBER = error("NotAllowed", "NOT_ALLOWED", "Only members of this party can do that.")
CHAT_DISABLED = error("ChatDisabled", "CHAT_DISABLED", "Chat is turned off in this party.")


@pytest.fixture(scope="session")
async def chat_api(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The production stack with a flood limit high enough for long histories."""
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path_factory.mktemp("chat"),
        rate_limit_chat="100000/10",
    )
    async with running_app(settings) as client:
        yield client


@asynccontextmanager
async def chat_stream(
    base_url: str, token: str, party_id: str, after: str | None = None
) -> AsyncIterator[PartyStream]:
    """A partyEvents subscription selecting the chat events (`CHAT_EVENTS`)."""
    async with graphql_socket(base_url) as socket:
        ack = await socket.init({"authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        op_id = await socket.subscribe(CHAT_EVENTS, {"partyId": party_id, "after": after})
        yield PartyStream(socket, op_id)


async def next_chat(stream: PartyStream) -> dict[str, Any]:
    """The next chat item (`{cursor event}`), skipping presence and membership events."""
    return await stream.next_event(
        "PresenceChanged", "MemberJoined", "MemberUpdated", "PartySnapshot"
    )
