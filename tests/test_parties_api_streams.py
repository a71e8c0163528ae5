"""Party mutations seen on real graphql-transport-ws party streams: kick, ban and delete end the
streams they concern with MembershipRevoked; everybody else hears MemberLeft / MemberJoined."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.parties_ops import Person, create_party, joined, mutate, person
from tests.support import Api, GraphQLSocket, graphql_socket, live_server

EVENTS = """subscription($partyId: ID!) { partyEvents(partyId: $partyId) { cursor event {
    __typename
    ... on PartySnapshot { party { id } }
    ... on MemberJoined { member { user { id } role status } }
    ... on MemberLeft { userId }
    ... on MemberUpdated { member { user { id } role status } }
    ... on PartyUpdated { party { id title host { id } } }
    ... on MembershipRevoked { reason } } } }"""


@pytest.fixture(scope="module")
async def url(api: Api) -> AsyncIterator[str]:
    async with live_server(api.app) as base:
        yield base


@asynccontextmanager
async def stream(url: str, who: Person, party_id: str) -> AsyncIterator[tuple[GraphQLSocket, str]]:
    async with graphql_socket(url) as socket:
        ack = await socket.init({"authorization": f"Bearer {who.token}"})
        assert ack["type"] == "connection_ack", ack
        op = await socket.subscribe(EVENTS, {"partyId": party_id})
        first = await next_event(socket, op)
        assert first["__typename"] == "PartySnapshot", first
        yield socket, op


async def next_message(socket: GraphQLSocket, op: str) -> dict[str, Any]:
    while True:
        message = await socket.receive()
        if message.get("id") == op:
            return message


async def next_event(socket: GraphQLSocket, op: str) -> dict[str, Any]:
    """The next stored event (presence pings skipped)."""
    while True:
        message = await next_message(socket, op)
        assert message["type"] == "next", message
        event: dict[str, Any] = message["payload"]["data"]["partyEvents"]["event"]
        if event["__typename"] != "PresenceChanged":
            return event


async def test_kick_ends_the_kicked_members_stream_only(api: Api, url: str) -> None:
    host = await person(api, "Host")
    guest = await person(api, "Guest")
    party = await create_party(api, host)
    await joined(api, guest, partyId=party["id"])
    async with (
        stream(url, host, party["id"]) as (host_socket, host_op),
        stream(url, guest, party["id"]) as (guest_socket, guest_op),
    ):
        result = await mutate(api, "kickMember", host.token, partyId=party["id"], userId=guest.id)
        assert result["__typename"] == "MemberRemovedPayload"
        assert await next_event(guest_socket, guest_op) == {
            "__typename": "MembershipRevoked",
            "reason": "KICKED",
        }
        assert await next_message(guest_socket, guest_op) == {"id": guest_op, "type": "complete"}
        # The host never sees the revocation meant for the guest, only that the guest left.
        assert await next_event(host_socket, host_op) == {
            "__typename": "MemberLeft",
            "userId": guest.id,
        }
        await joined(api, guest, partyId=party["id"])
        assert await next_event(host_socket, host_op) == {
            "__typename": "MemberJoined",
            "member": {"user": {"id": guest.id}, "role": "MEMBER", "status": "ACTIVE"},
        }
        renamed = await mutate(api, "updateParty", host.token, partyId=party["id"], title="Renamed")
        assert renamed["__typename"] == "PartyPayload"
        assert await next_event(host_socket, host_op) == {
            "__typename": "PartyUpdated",
            "party": {"id": party["id"], "title": "Renamed", "host": {"id": host.id}},
        }


async def test_delete_ends_every_stream(api: Api, url: str) -> None:
    host = await person(api, "Host")
    guest = await person(api, "Guest")
    party = await create_party(api, host)
    await joined(api, guest, partyId=party["id"])
    async with (
        stream(url, host, party["id"]) as (host_socket, host_op),
        stream(url, guest, party["id"]) as (guest_socket, guest_op),
    ):
        deleted = await mutate(api, "deleteParty", host.token, partyId=party["id"])
        assert deleted["__typename"] == "DeletePartyPayload"
        for socket, op in ((host_socket, host_op), (guest_socket, guest_op)):
            assert await next_event(socket, op) == {
                "__typename": "MembershipRevoked",
                "reason": "PARTY_DELETED",
            }
            assert await next_message(socket, op) == {"id": op, "type": "complete"}


async def test_ban_ends_the_banned_members_stream(api: Api, url: str) -> None:
    host = await person(api, "Host")
    guest = await person(api, "Guest")
    party = await create_party(api, host, visibility="PRIVATE")
    await joined(api, guest, code=party["code"])
    async with stream(url, guest, party["id"]) as (socket, op):
        banned = await mutate(api, "banMember", host.token, partyId=party["id"], userId=guest.id)
        assert banned["__typename"] == "PartyMemberPayload"
        assert await next_event(socket, op) == {
            "__typename": "MembershipRevoked",
            "reason": "BANNED",
        }
        assert await next_message(socket, op) == {"id": op, "type": "complete"}
