"""Playback test helpers: parties with members in given roles, controls, queue edits, polling."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from tests.support import Api

PLAYBACK = """state positionSeconds anchorServerTimeMs rate revision waitDeadlineMs
    item { id title position durationSeconds url }
    waitingFor { id } lagging { id } updatedBy { id }"""
QUEUE = "id position title url durationSeconds addedBy { id }"
LEAD_MS = 300.0  # no member online: the minimum lead


def now_ms() -> float:
    return time.time() * 1000.0


@dataclass
class Person:
    token: str
    id: str


@dataclass
class Party:
    id: str
    host: Person
    playback: dict[str, Any]
    queue: list[dict[str, Any]]


async def person(api: Api, name: str = "Viewer") -> Person:
    auth = await api.register(display_name=name)
    return Person(auth["accessToken"], auth["user"]["id"])


async def create_party(
    api: Api,
    host: Person | None = None,
    *,
    media: dict[str, Any] | None = None,
    **settings: Any,
) -> Party:
    host = host or await person(api, "Host")
    party_input: dict[str, Any] = {"title": "Movie night", **settings}
    if media is not None:
        party_input["media"] = media
    result = await api.gql(
        f"""mutation($input: CreatePartyInput!) {{ createParty(input: $input) {{
            __typename ... on PartyPayload {{ party {{ id playback {{ {PLAYBACK} }}
                queue {{ {QUEUE} }} }} }}
            ... on UserError {{ code message field }} }} }}""",
        {"input": party_input},
        token=host.token,
    )
    payload = result.data["createParty"]
    assert payload["__typename"] == "PartyPayload", payload
    party = payload["party"]
    return Party(party["id"], host, party["playback"], party["queue"])


async def join(api: Api, party_id: str, who: Person) -> None:
    result = await api.gql(
        """mutation($input: JoinPartyInput!) { joinParty(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"partyId": party_id}},
        token=who.token,
    )
    assert result.data["joinParty"]["__typename"] == "JoinPartyPayload", result.body


async def set_role(api: Api, party: Party, who: Person, role: str) -> None:
    result = await api.gql(
        """mutation($input: SetMemberRoleInput!) { setMemberRole(input: $input) {
            __typename ... on UserError { code message } } }""",
        {"input": {"partyId": party.id, "userId": who.id, "role": role}},
        token=party.host.token,
    )
    assert result.data["setMemberRole"]["__typename"] == "PartyMemberPayload", result.body


async def member(api: Api, party: Party, role: str = "MEMBER") -> Person:
    who = await person(api, role.title())
    await join(api, party.id, who)
    if role != "MEMBER":
        await set_role(api, party, who, role)
    return who


CONTROL_INPUT = {
    "play": "PlaybackControlInput",
    "pause": "PlaybackControlInput",
    "skipToNext": "PlaybackControlInput",
    "skipToPrevious": "PlaybackControlInput",
    "seek": "SeekInput",
    "setPlaybackRate": "SetPlaybackRateInput",
    "playQueueItem": "PlayQueueItemInput",
}


async def control(
    api: Api, name: str, party_id: str, token: str | None, **fields: Any
) -> dict[str, Any]:
    """Run a playback control; returns the union member (with __typename)."""
    result = await api.gql(
        f"""mutation($input: {CONTROL_INPUT[name]}!) {{ {name}(input: $input) {{
            __typename
            ... on PlaybackPayload {{ playback {{ {PLAYBACK} }} }}
            ... on RevisionConflict {{ current {{ {PLAYBACK} }} }}
            ... on UserError {{ code message field }} }} }}""",
        {"input": {"partyId": party_id, **fields}},
        token=token,
    )
    payload: dict[str, Any] = result.data[name]
    return payload


async def playback_ok(
    api: Api, name: str, party_id: str, token: str | None, **fields: Any
) -> dict[str, Any]:
    payload = await control(api, name, party_id, token, **fields)
    assert payload["__typename"] == "PlaybackPayload", payload
    playback: dict[str, Any] = payload["playback"]
    return playback


QUEUE_INPUT = {
    "addToQueue": "AddToQueueInput",
    "removeFromQueue": "RemoveFromQueueInput",
    "moveQueueItem": "MoveQueueItemInput",
}


async def queue_op(
    api: Api, name: str, party_id: str, token: str | None, **fields: Any
) -> dict[str, Any]:
    result = await api.gql(
        f"""mutation($input: {QUEUE_INPUT[name]}!) {{ {name}(input: $input) {{
            __typename
            ... on QueuePayload {{ queue {{ {QUEUE} }} playback {{ {PLAYBACK} }} }}
            ... on UserError {{ code message field }} }} }}""",
        {"input": {"partyId": party_id, **fields}},
        token=token,
    )
    payload: dict[str, Any] = result.data[name]
    return payload


async def add_item(
    api: Api, party: Party, title: str, duration: float | None = None, token: str | None = None
) -> dict[str, Any]:
    media: dict[str, Any] = {"url": f"https://videos.example.com/{title}.mp4", "title": title}
    if duration is not None:
        media["durationSeconds"] = duration
    payload = await queue_op(api, "addToQueue", party.id, token or party.host.token, media=media)
    assert payload["__typename"] == "QueuePayload", payload
    return payload


async def read_party(api: Api, party_id: str, token: str) -> dict[str, Any]:
    result = await api.gql(
        f"""query($id: ID!) {{ party(id: $id) {{ playback {{ {PLAYBACK} }}
            queue(first: 200) {{ {QUEUE} }}
            myMembership {{ lastDriftMs }} }} }}""",
        {"id": party_id},
        token=token,
    )
    party: dict[str, Any] = result.data["party"]
    return party


async def wait_for_playback(
    api: Api, party_id: str, token: str, predicate: Any, timeout: float = 15.0
) -> dict[str, Any]:
    """Poll `party.playback` until `predicate(playback)` holds (jobs run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        playback: dict[str, Any] = (await read_party(api, party_id, token))["playback"]
        if predicate(playback) or time.monotonic() > deadline:
            return playback
        await asyncio.sleep(0.1)


async def report(
    api: Api, party_id: str, token: str | None, state: str, position: float, **extra: Any
) -> dict[str, Any]:
    result = await api.gql(
        """mutation($input: ReportPlayerStateInput!) { reportPlayerState(input: $input) {
            __typename ... on ReportPlayerStatePayload { driftMs revision }
            ... on RateLimited { retryAfterSeconds }
            ... on UserError { code message field } } }""",
        {
            "input": {
                "partyId": party_id,
                "state": state,
                "positionSeconds": position,
                "clientTimeMs": now_ms(),
                **extra,
            }
        },
        token=token,
    )
    payload: dict[str, Any] = result.data["reportPlayerState"]
    return payload


URL_ITEM = {"url": "https://videos.example.com/first.mp4", "title": "First", "durationSeconds": 600}
