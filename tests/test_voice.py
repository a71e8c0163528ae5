"""Voice room presence and screen sharing through the public API, on both stacks (Redis-backed
state with PostgreSQL, memory state embedded)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.parties_ops import (
    NOT_AUTHENTICATED,
    NOT_FOUND,
    Person,
    cast,
    create_party,
    error,
    joined,
    mutate,
    person,
)
from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from tests.test_party_stream_support import PartyStream, StreamEnded
from watchparty.parties.presence import get_presence, sweep_presence

PARTICIPANT = "user { id } muted speaking joinedAt"
SHARE = "user { id } startedAt"
ERRORS = "... on UserError { code message field }"
OPS: dict[str, tuple[str, str]] = {
    "joinVoice": (
        "VoicePartyInput",
        f"... on VoiceParticipantPayload {{ partyId participant {{ {PARTICIPANT} }} }}",
    ),
    "leaveVoice": ("VoicePartyInput", "... on LeaveVoicePayload { partyId }"),
    "setVoiceState": (
        "SetVoiceStateInput",
        f"... on VoiceParticipantPayload {{ partyId participant {{ {PARTICIPANT} }} }} "
        "... on RateLimited { retryAfterSeconds }",
    ),
    "startScreenShare": (
        "VoicePartyInput",
        f"... on ScreenSharePayload {{ partyId screenShare {{ {SHARE} }} }}",
    ),
    "stopScreenShare": ("VoicePartyInput", "... on StopScreenSharePayload { partyId }"),
    "sendSignal": (
        "SendSignalInput",
        "... on SendSignalPayload { toUserId kind sentAt } "
        "... on RateLimited { retryAfterSeconds }",
    ),
}
NOT_ALLOWED = error("NotAllowed", "NOT_ALLOWED", "Only members of this party can do that.")
EMPTY: dict[str, Any] = {"voiceParticipants": [], "screenShares": []}
NOT_IN_VOICE = error("Conflict", "CONFLICT", "Join voice first.")

VOICE_EVENTS = f"""
subscription($partyId: ID!) {{ partyEvents(partyId: $partyId) {{ cursor event {{
  __typename
  ... on PartySnapshot {{
    party {{ id voiceParticipants {{ {PARTICIPANT} }} screenShares {{ {SHARE} }} }}
  }}
  ... on PresenceChanged {{ cameOnline wentOffline onlineCount countsOnly }}
  ... on VoiceStateChanged {{ userId inVoice muted speaking }}
  ... on ScreenShareChanged {{ userId active }}
  ... on MemberLeft {{ userId }}
  ... on MemberUpdated {{ member {{ user {{ id }} status }} }}
  ... on MembershipRevoked {{ reason }}
  ... on PartyUpdated {{ party {{ settings {{ maxScreenShares }} }} }}
}} }} }}
"""


async def op(api: Api, name: str, who: Person | None, **input: Any) -> dict[str, Any]:
    """Run voice mutation `name`; the union member with its __typename."""
    input_type, selection = OPS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename "
        f"{selection} {ERRORS} }} }}"
    )
    result = await api.gql(query, {"input": input}, token=None if who is None else who.token)
    payload: dict[str, Any] = result.data[name]
    return payload


def voice(
    user: Person, *, in_voice: bool = True, muted: bool = False, speaking: bool = False
) -> dict[str, Any]:
    return {
        "__typename": "VoiceStateChanged",
        "userId": user.id,
        "inVoice": in_voice,
        "muted": muted,
        "speaking": speaking,
    }


def sharing(user: Person, active: bool) -> dict[str, Any]:
    return {"__typename": "ScreenShareChanged", "userId": user.id, "active": active}


@asynccontextmanager
async def stream(base: str, who: Person, party_id: str) -> AsyncIterator[PartyStream]:
    """A partyEvents stream with the voice fields; its snapshot already read (`.snapshot`)."""
    async with graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {who.token}"})
        assert ack["type"] == "connection_ack", ack
        op_id = await socket.subscribe(VOICE_EVENTS, {"partyId": party_id})
        events = PartyStream(socket, op_id)
        first = await events.next()
        assert first["event"]["__typename"] == "PartySnapshot"
        events.snapshot = first["event"]["party"]  # type: ignore[attr-defined]
        yield events


async def next_voice(events: PartyStream) -> dict[str, Any]:
    """The next voice or screen-share event (presence and membership events skipped)."""
    while True:
        item = await events.next()
        if item["event"]["__typename"] in ("VoiceStateChanged", "ScreenShareChanged"):
            event: dict[str, Any] = item["event"]
            return event


async def until_end(events: PartyStream) -> None:
    """Read a stream until it ends (its last events are whatever came before the end)."""
    while True:
        try:
            await events.next()
        except StreamEnded:
            return


async def voice_fields(api: Api, who: Person | None, party_id: str) -> dict[str, Any]:
    result = await api.gql(
        f"query($id: ID!) {{ party(id: $id) {{ voiceParticipants {{ {PARTICIPANT} }} "
        f"screenShares {{ {SHARE} }} }} }}",
        {"id": party_id},
        token=None if who is None else who.token,
    )
    party: dict[str, Any] = result.data["party"]
    return party


async def test_join_set_and_leave_voice(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    first = await op(any_api, "joinVoice", c.member, partyId=pid)
    assert first["__typename"] == "VoiceParticipantPayload", first
    assert first["partyId"] == pid
    joined_at = first["participant"]["joinedAt"]
    assert first["participant"] == {
        "user": {"id": c.member.id},
        "muted": False,
        "speaking": False,
        "joinedAt": joined_at,
    }
    again = await op(any_api, "joinVoice", c.member, partyId=pid)
    assert again == first  # joining again changes nothing, not even joinedAt

    spoke = await op(any_api, "setVoiceState", c.member, partyId=pid, speaking=True)
    assert spoke["participant"] == {**first["participant"], "speaking": True}
    muted = await op(any_api, "setVoiceState", c.member, partyId=pid, muted=True)
    assert muted["participant"] == {**first["participant"], "muted": True, "speaking": False}
    still = await op(any_api, "setVoiceState", c.member, partyId=pid, speaking=True)
    assert still["participant"]["speaking"] is False  # muted members never speak

    await op(any_api, "joinVoice", c.host, partyId=pid)
    seen = await voice_fields(any_api, c.moderator, pid)
    assert [p["user"]["id"] for p in seen["voiceParticipants"]] == [c.member.id, c.host.id]
    assert seen["voiceParticipants"][0] == {**first["participant"], "muted": True}

    left = await op(any_api, "leaveVoice", c.member, partyId=pid)
    assert left == {"__typename": "LeaveVoicePayload", "partyId": pid}
    assert await op(any_api, "leaveVoice", c.member, partyId=pid) == left  # no error
    seen = await voice_fields(any_api, c.moderator, pid)
    assert [p["user"]["id"] for p in seen["voiceParticipants"]] == [c.host.id]
    assert await op(any_api, "setVoiceState", c.member, partyId=pid, muted=False) == NOT_IN_VOICE


async def test_voice_changes_reach_the_stream_once(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    await op(any_api, "joinVoice", c.cohost, partyId=pid)
    async with live_server(any_api.app) as base, stream(base, c.host, pid) as events:
        # The snapshot shows who is already in voice.
        assert [p["user"]["id"] for p in events.snapshot["voiceParticipants"]] == [c.cohost.id]  # type: ignore[attr-defined]
        await op(any_api, "joinVoice", c.member, partyId=pid)
        assert await next_voice(events) == voice(c.member)
        await op(any_api, "joinVoice", c.member, partyId=pid)  # no change: no event
        await op(any_api, "setVoiceState", c.member, partyId=pid, speaking=False)  # same
        await op(any_api, "setVoiceState", c.member, partyId=pid, speaking=True)
        assert await next_voice(events) == voice(c.member, speaking=True)
        await op(any_api, "setVoiceState", c.member, partyId=pid, speaking=True)  # repeat
        await op(any_api, "setVoiceState", c.member, partyId=pid, muted=True, speaking=True)
        assert await next_voice(events) == voice(c.member, muted=True)
        await op(any_api, "leaveVoice", c.member, partyId=pid)
        assert await next_voice(events) == voice(c.member, in_voice=False)
        await op(any_api, "leaveVoice", c.member, partyId=pid)  # not in voice: no event
        await op(any_api, "startScreenShare", c.cohost, partyId=pid)
        assert await next_voice(events) == sharing(c.cohost, True)
        await op(any_api, "startScreenShare", c.cohost, partyId=pid)  # already: no event
        await op(any_api, "stopScreenShare", c.cohost, partyId=pid)
        assert await next_voice(events) == sharing(c.cohost, False)


ROLES = ["anonymous", "stranger", "member", "moderator", "cohost", "host"]
SUCCESS = {
    "joinVoice": "VoiceParticipantPayload",
    "setVoiceState": "VoiceParticipantPayload",
    "leaveVoice": "LeaveVoicePayload",
    "startScreenShare": "ScreenSharePayload",
    "stopScreenShare": "StopScreenSharePayload",
}


@pytest.mark.parametrize("visibility", ["PUBLIC", "PRIVATE"])
async def test_authorization_matrix(any_api: Api, visibility: str) -> None:
    c = await cast(any_api, visibility=visibility, maxScreenShares=10)
    pid = c.party["id"]
    for role in ROLES:
        who = None if role == "anonymous" else getattr(c, role)
        for name in SUCCESS:
            fields = {"muted": True} if name == "setVoiceState" else {}
            answer = await op(any_api, name, who, partyId=pid, **fields)
            if role == "anonymous":
                expected: dict[str, Any] = NOT_AUTHENTICATED
            elif role == "stranger":
                expected = NOT_FOUND if visibility == "PRIVATE" else NOT_ALLOWED
            else:
                assert answer["__typename"] == SUCCESS[name], (role, name, answer)
                assert answer["partyId"] == pid
                continue
            assert answer == expected, (role, name, answer)
    # An id that is not a party (or not an id at all) reads like a private party.
    for party_id in ("00000000-0000-0000-0000-000000000000", "nope"):
        assert await op(any_api, "joinVoice", c.member, partyId=party_id) == NOT_FOUND


async def test_who_sees_the_voice_room(any_api: Api) -> None:
    host = await person(any_api, "Host")
    for visibility, stranger_sees in (("PUBLIC", True), ("UNLISTED", False)):
        party = await create_party(any_api, host, visibility=visibility)
        await op(any_api, "joinVoice", host, partyId=party["id"])
        await op(any_api, "startScreenShare", host, partyId=party["id"])
        stranger = await person(any_api, "Stranger")
        everything = await voice_fields(any_api, host, party["id"])
        assert [p["user"]["id"] for p in everything["voiceParticipants"]] == [host.id]
        assert [s["user"]["id"] for s in everything["screenShares"]] == [host.id]
        seen = await voice_fields(any_api, stranger, party["id"])
        assert seen == (everything if stranger_sees else EMPTY)
        assert await voice_fields(any_api, None, party["id"]) == {
            "voiceParticipants": [],
            "screenShares": [],
        }


async def test_screen_share_limit_and_raising_it(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    started = await op(any_api, "startScreenShare", c.member, partyId=pid)
    assert started["__typename"] == "ScreenSharePayload", started
    assert started["screenShare"]["user"] == {"id": c.member.id}
    again = await op(any_api, "startScreenShare", c.member, partyId=pid)
    assert again == started  # already sharing: same share, same startedAt
    full_one = error(
        "Conflict",
        "CONFLICT",
        "This party allows 1 screen share at a time; wait until someone stops sharing.",
    )
    assert await op(any_api, "startScreenShare", c.moderator, partyId=pid) == full_one

    raised = await mutate(any_api, "updateParty", c.host.token, partyId=pid, maxScreenShares=2)
    assert raised["__typename"] == "PartyPayload", raised
    assert (await op(any_api, "startScreenShare", c.moderator, partyId=pid))[
        "__typename"
    ] == "ScreenSharePayload"
    full_two = error(
        "Conflict",
        "CONFLICT",
        "This party allows 2 screen shares at a time; wait until someone stops sharing.",
    )
    assert await op(any_api, "startScreenShare", c.host, partyId=pid) == full_two
    await op(any_api, "stopScreenShare", c.member, partyId=pid)
    assert (await op(any_api, "startScreenShare", c.host, partyId=pid))[
        "__typename"
    ] == "ScreenSharePayload"
    shares = (await voice_fields(any_api, c.member, pid))["screenShares"]
    assert [s["user"]["id"] for s in shares] == [c.moderator.id, c.host.id]


async def test_concurrent_starts_never_exceed_the_limit(any_api: Api) -> None:
    host = await person(any_api, "Host")
    party = await create_party(any_api, host, maxScreenShares=2)
    people = [await person(any_api, f"P{n}") for n in range(6)]
    for who in people:
        await joined(any_api, who, code=party["code"])
    answers = await asyncio.gather(
        *(op(any_api, "startScreenShare", who, partyId=party["id"]) for who in people)
    )
    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["Conflict"] * 4 + ["ScreenSharePayload"] * 2
    shares = (await voice_fields(any_api, host, party["id"]))["screenShares"]
    winners = {a["screenShare"]["user"]["id"] for a in answers if "screenShare" in a}
    assert {s["user"]["id"] for s in shares} == winners


async def test_ended_party_refuses_voice_and_sharing(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    ended = await mutate(any_api, "endParty", c.host.token, partyId=pid)
    assert ended["__typename"] == "PartyPayload", ended
    party_ended = error("PartyEndedError", "PARTY_ENDED", "This party has ended.")
    assert await op(any_api, "joinVoice", c.member, partyId=pid) == party_ended
    assert await op(any_api, "startScreenShare", c.member, partyId=pid) == party_ended


async def test_disconnecting_leaves_voice_and_stops_sharing(any_api: Api) -> None:
    c = await cast(any_api, maxScreenShares=3)
    pid = c.party["id"]
    async with live_server(any_api.app) as base, stream(base, c.host, pid) as watcher:
        async with stream(base, c.member, pid), stream(base, c.member, pid):
            await op(any_api, "joinVoice", c.member, partyId=pid)
            assert await next_voice(watcher) == voice(c.member)
            await op(any_api, "startScreenShare", c.member, partyId=pid)
            assert await next_voice(watcher) == sharing(c.member, True)
        # Both of the member's streams closed: offline, out of voice, no longer sharing.
        assert await next_voice(watcher) == voice(c.member, in_voice=False)
        assert await next_voice(watcher) == sharing(c.member, False)
        assert await voice_fields(any_api, c.host, pid) == {
            "voiceParticipants": [],
            "screenShares": [],
        }


async def test_one_stream_closing_keeps_a_member_with_another_in_voice(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    async with (
        live_server(any_api.app) as base,
        stream(base, c.host, pid) as watcher,
        stream(base, c.member, pid),
    ):
        async with stream(base, c.member, pid):
            await op(any_api, "joinVoice", c.member, partyId=pid)
            assert await next_voice(watcher) == voice(c.member)
        # One of two streams closed: still online, still in voice.
        await op(any_api, "joinVoice", c.moderator, partyId=pid)
        assert await next_voice(watcher) == voice(c.moderator)
        room = (await voice_fields(any_api, c.host, pid))["voiceParticipants"]
        assert [p["user"]["id"] for p in room] == [c.member.id, c.moderator.id]


@pytest.mark.parametrize("how", ["kick", "ban", "leave"])
async def test_removed_members_leave_voice(any_api: Api, how: str) -> None:
    c = await cast(any_api, visibility="PRIVATE")
    pid = c.party["id"]
    async with (
        live_server(any_api.app) as base,
        stream(base, c.host, pid) as watcher,
        stream(base, c.member, pid) as own,
    ):
        await op(any_api, "joinVoice", c.member, partyId=pid)
        await op(any_api, "startScreenShare", c.member, partyId=pid)
        assert await next_voice(watcher) == voice(c.member)
        assert await next_voice(watcher) == sharing(c.member, True)
        if how == "leave":
            answer = await mutate(any_api, "leaveParty", c.member.token, partyId=pid)
        else:
            name = "kickMember" if how == "kick" else "banMember"
            answer = await mutate(any_api, name, c.host.token, partyId=pid, userId=c.member.id)
        assert "code" not in answer, answer
        await until_end(own)  # the removed member's stream ends (PRIVATE party)...
        assert await next_voice(watcher) == voice(c.member, in_voice=False)  # ...so offline
        assert await next_voice(watcher) == sharing(c.member, False)
    assert await voice_fields(any_api, c.host, pid) == EMPTY


async def test_a_former_member_never_blocks_a_screen_share(any_api: Api) -> None:
    """Left without holding a stream (presence never saw them offline): their share is not
    listed, and it does not count against the limit."""
    c = await cast(any_api)
    pid = c.party["id"]
    await op(any_api, "joinVoice", c.member, partyId=pid)
    await op(any_api, "startScreenShare", c.member, partyId=pid)
    left = await mutate(any_api, "leaveParty", c.member.token, partyId=pid)
    assert left["__typename"] == "LeavePartyPayload", left
    assert await voice_fields(any_api, c.host, pid) == {"voiceParticipants": [], "screenShares": []}
    started = await op(any_api, "startScreenShare", c.moderator, partyId=pid)
    assert started["__typename"] == "ScreenSharePayload", started


async def test_voice_state_changes_are_rate_limited(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_signals="3/60"
    )
    async with running_app(settings, worker=False) as api:
        c = await cast(api)
        pid = c.party["id"]
        await op(api, "joinVoice", c.member, partyId=pid)
        for speaking in (True, False, True):
            answer = await op(api, "setVoiceState", c.member, partyId=pid, speaking=speaking)
            assert answer["__typename"] == "VoiceParticipantPayload", answer
        limited = await op(api, "setVoiceState", c.member, partyId=pid, speaking=False)
        retry = limited["retryAfterSeconds"]
        assert 1 <= retry <= 60
        assert limited == {
            **error(
                "RateLimited", "RATE_LIMITED", f"Too many attempts. Try again in {retry} seconds."
            ),
            "retryAfterSeconds": retry,
        }
        # Another member has a budget of their own.
        await op(api, "joinVoice", c.moderator, partyId=pid)
        answer = await op(api, "setVoiceState", c.moderator, partyId=pid, speaking=True)
        assert answer["__typename"] == "VoiceParticipantPayload"
        room = (await voice_fields(api, c.host, pid))["voiceParticipants"]
        assert [(p["user"]["id"], p["speaking"]) for p in room] == [
            (c.member.id, True),
            (c.moderator.id, True),
        ]


async def test_the_sweeper_takes_a_member_of_a_dead_process_out_of_voice(
    pg_url: str, tmp_path: Path
) -> None:
    """Offline because their process died (the connection expired, the sweeper found it): out
    of voice, no longer sharing. The sweeper is a job (`sweep_presence`), run by the worker."""
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp_path, presence_ttl_seconds=1)
    async with running_app(settings, worker=False) as api:  # nothing else sweeps
        c = await cast(api)
        pid = c.party["id"]
        # A stream held by a process that then died: registered, never heartbeaten again.
        await get_presence(api.state).connect(uuid.UUID(pid), uuid.UUID(c.member.id), "dead")
        await op(api, "joinVoice", c.member, partyId=pid)
        await op(api, "startScreenShare", c.member, partyId=pid)
        room = await voice_fields(api, c.host, pid)
        assert [p["user"]["id"] for p in room["voiceParticipants"]] == [c.member.id]
        assert [s["user"]["id"] for s in room["screenShares"]] == [c.member.id]
        await asyncio.sleep(1.2)  # past PRESENCE_TTL_SECONDS
        assert await sweep_presence({"state": api.state}) == 1
        assert await voice_fields(api, c.host, pid) == EMPTY


def test_the_worker_process_registers_voice_for_offline_members() -> None:
    """The worker announces swept members offline: importing it (the composition root
    `registry.py`) registers voice's hook, which parties cannot import."""
    code = (
        "import watchparty.worker\n"
        "from watchparty.parties.presence.hooks import offline_hooks\n"
        "from watchparty.voice.service import member_offline\n"
        "print(offline_hooks() == (member_offline,))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr
