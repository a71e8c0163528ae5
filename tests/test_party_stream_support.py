"""Helpers for the party stream tests: parties through the API, and a partyEvents client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from tests.support import GraphQLResponse, GraphQLSocket, graphql_socket

WAIT = 15.0

PARTY_EVENTS = """
subscription PartyEvents($partyId: ID!, $after: String) {
  partyEvents(partyId: $partyId, after: $after) {
    cursor occurredAt resync
    event {
      __typename
      ... on PartySnapshot {
        party {
          id title status onlineCount memberCount
          members(online: true) { totalCount edges { node { user { id } online } } }
          playback { state revision }
        }
      }
      ... on PlaybackChanged {
        playback { state revision positionSeconds rate item { title } updatedBy { id } }
      }
      ... on QueueChanged { queue { id title position } }
      ... on MemberJoined { member { user { id displayName } role status online } }
      ... on MemberLeft { userId }
      ... on MemberUpdated { member { user { id } role status } }
      ... on PresenceChanged { cameOnline wentOffline onlineCount countsOnly }
      ... on PartyUpdated { party { id title description visibility } }
      ... on PartyEnded { partyId }
      ... on MembershipRevoked { reason }
    }
  }
}
"""


def presence(
    *,
    came: Sequence[str] = (),
    went: Sequence[str] = (),
    count: int,
    counts_only: bool = False,
) -> dict[str, Any]:
    """A `PresenceChanged` event as `PARTY_EVENTS` selects it."""
    return {
        "__typename": "PresenceChanged",
        "cameOnline": list(came),
        "wentOffline": list(went),
        "onlineCount": count,
        "countsOnly": counts_only,
    }


class Api(Protocol):
    """What the helpers need: `tests.support.Api` in-process, or a client of a `serve`."""

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResponse: ...

    async def register(self, *, display_name: str = ...) -> dict[str, Any]: ...


@dataclass
class User:
    id: str
    token: str


async def user(api: Api, name: str = "Viewer") -> User:
    payload = await api.register(display_name=name)
    return User(payload["user"]["id"], payload["accessToken"])


async def ok(api: Api, query: str, variables: dict[str, Any], token: str | None) -> Any:
    """Run a mutation; return its single root field, asserting it is not a UserError."""
    data = (await api.gql(query, variables, token=token)).data
    (result,) = data.values()
    assert "code" not in result, result
    return result


async def create_party(api: Api, host: User, **settings: Any) -> str:
    values = {"title": "Movie night", "visibility": "PRIVATE", **settings}
    values.setdefault("media", {"url": "https://example.com/a.mp4", "durationSeconds": 600.0})
    result = await ok(
        api,
        """mutation($input: CreatePartyInput!) { createParty(input: $input) {
            ... on PartyPayload { party { id } } ... on UserError { code message field } } }""",
        {"input": values},
        host.token,
    )
    party_id: str = result["party"]["id"]
    return party_id


async def join(api: Api, member: User, party_id: str) -> None:
    await ok(
        api,
        """mutation($input: JoinPartyInput!) { joinParty(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"partyId": party_id}},
        member.token,
    )


async def invite_and_join(api: Api, host: User, member: User, party_id: str) -> None:
    """Join a party of any visibility through an invite link."""
    link = await ok(
        api,
        """mutation($input: CreateInviteLinkInput!) { createInviteLink(input: $input) {
            ... on CreateInviteLinkPayload { token } ... on UserError { code message } } }""",
        {"input": {"partyId": party_id}},
        host.token,
    )
    await ok(
        api,
        """mutation($input: JoinPartyInput!) { joinParty(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"inviteToken": link["token"]}},
        member.token,
    )


async def seek(api: Api, who: User, party_id: str, position: float) -> int:
    result = await ok(
        api,
        """mutation($input: SeekInput!) { seek(input: $input) {
            ... on PlaybackPayload { playback { revision } }
            ... on UserError { code message } } }""",
        {"input": {"partyId": party_id, "positionSeconds": position}},
        who.token,
    )
    revision: int = result["playback"]["revision"]
    return revision


async def rename(api: Api, who: User, party_id: str, title: str, **more: Any) -> None:
    await ok(
        api,
        """mutation($input: UpdatePartyInput!) { updateParty(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"partyId": party_id, "title": title, **more}},
        who.token,
    )


async def party_field(api: Api, who: User | None, party_id: str, selection: str) -> Any:
    data = (
        await api.gql(
            f"query($id: ID!) {{ party(id: $id) {{ {selection} }} }}",
            {"id": party_id},
            token=who.token if who else None,
        )
    ).data
    return data["party"]


class StreamEnded(Exception):
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        super().__init__(messages)
        self.messages = messages


class PartyStream:
    """One partyEvents operation on a graphql-transport-ws socket."""

    def __init__(self, socket: GraphQLSocket, op_id: str) -> None:
        self.socket = socket
        self.op_id = op_id
        self.completed = False
        self.errors: list[dict[str, Any]] | None = None

    async def message(self, timeout: float = WAIT) -> dict[str, Any]:
        while True:
            message = await self.socket.receive(timeout)
            if message.get("id") == self.op_id:
                return message

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next item (`{cursor occurredAt resync event}`); StreamEnded on error/complete."""
        message = await self.message(timeout)
        if message["type"] == "next" and message["payload"].get("data"):
            item: dict[str, Any] = message["payload"]["data"]["partyEvents"]
            return item
        rest = [message]
        if message["type"] == "next":
            self.errors = message["payload"].get("errors")
            rest.append(await self.message(timeout))
        self.completed = rest[-1]["type"] == "complete"
        raise StreamEnded(rest)

    async def next_event(self, *skip: str, timeout: float = WAIT) -> dict[str, Any]:
        """The next item whose event is not one of the `skip` typenames."""
        while True:
            item = await self.next(timeout)
            if item["event"]["__typename"] not in skip:
                return item

    async def ending(self, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Expect the stream to end now; return the messages that end it."""
        try:
            item = await self.next(timeout)
        except StreamEnded as ended:
            return ended.messages
        raise AssertionError(f"the stream went on: {item}")


@asynccontextmanager
async def party_stream(
    base_url: str, who: User | None, party_id: str, after: str | None = None
) -> AsyncIterator[PartyStream]:
    async with graphql_socket(base_url) as socket:
        payload = {"authorization": f"Bearer {who.token}"} if who else {}
        ack = await socket.init(payload)
        assert ack["type"] == "connection_ack", ack
        op_id = await socket.subscribe(PARTY_EVENTS, {"partyId": party_id, "after": after})
        yield PartyStream(socket, op_id)


async def stream_error(base_url: str, who: User | None, party_id: str) -> list[dict[str, Any]]:
    """Subscribe and expect an error that ends the stream at once; return its errors."""
    async with party_stream(base_url, who, party_id) as stream:
        messages = await stream.ending()
    assert messages[-1]["type"] == "complete", messages
    errors: list[dict[str, Any]] = messages[0]["payload"]["errors"]
    return errors


async def eventually(check: Any, timeout: float = WAIT) -> None:
    """Poll an async predicate until it holds (no timing assertion: only a deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
