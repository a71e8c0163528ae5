"""The WebRTC signaling relay: `sendSignal` reaches only its recipient's `signals` stream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.parties_ops import NOT_AUTHENTICATED, NOT_FOUND, Person, cast, error, mutate
from tests.support import (
    Api,
    GraphQLSocket,
    graphql_socket,
    live_server,
    make_settings,
    running_app,
)
from tests.test_party_stream_support import eventually
from tests.test_voice import NOT_ALLOWED, VOICE_EVENTS, op
from watchparty.voice.signals import signal_channel

SIGNALS = """subscription($partyId: ID!) {
  signals(partyId: $partyId) { fromUserId kind payload sentAt }
}"""
CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": None,
}
RECIPIENT_NOT_FOUND = error(
    "NotFound", "NOT_FOUND", "That person is not a member of this party.", "toUserId"
)


class Listener:
    """One socket holding `signals` (and, optionally, `partyEvents`) of one person."""

    def __init__(self, socket: GraphQLSocket) -> None:
        self.socket = socket
        self.ops: dict[str, str] = {}  # op id -> root field

    async def message(self) -> dict[str, Any]:
        return await self.socket.receive(15.0)

    async def signal(self) -> dict[str, Any]:
        """The next message of the `signals` operation (a signal, or whatever ended it)."""
        while True:
            message = await self.message()
            if self.ops.get(message.get("id", "")) != "signals":
                continue
            if message["type"] == "next" and message["payload"].get("data"):
                found: dict[str, Any] = message["payload"]["data"]["signals"]
                return found
            return message


def live(api: Api, party_id: str, who: Person) -> int:
    return api.state.hub.live_count(signal_channel(uuid.UUID(party_id), uuid.UUID(who.id)))


@asynccontextmanager
async def listening(
    api: Api, base: str, who: Person, party_id: str, *, events: bool = False
) -> AsyncIterator[Listener]:
    """`who`'s signals stream, live once this yields (and their partyEvents with `events`)."""
    before = live(api, party_id, who)
    async with graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {who.token}"})
        assert ack["type"] == "connection_ack", ack
        listener = Listener(socket)
        listener.ops[await socket.subscribe(SIGNALS, {"partyId": party_id})] = "signals"
        if events:
            op_id = await socket.subscribe(VOICE_EVENTS, {"partyId": party_id})
            listener.ops[op_id] = "partyEvents"

        async def subscribed() -> bool:
            return live(api, party_id, who) > before

        await eventually(subscribed)
        yield listener


def sdp(text: str) -> dict[str, Any]:
    """A payload as a browser sends it (`RTCSessionDescription.toJSON()`)."""
    return {"type": "offer", "sdp": text}


async def send(
    api: Api, who: Person | None, party_id: str, to: str, kind: str, payload: Any
) -> Any:
    """`payload` goes as is when it is not a string; a string is wrapped by `sdp`."""
    body = sdp(payload) if isinstance(payload, str) else payload
    return await op(api, "sendSignal", who, partyId=party_id, toUserId=to, kind=kind, payload=body)


async def test_signals_reach_only_their_recipient(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    a, b, third = c.cohost, c.moderator, c.member
    async with (
        live_server(any_api.app) as base,
        listening(any_api, base, a, pid) as to_a,
        listening(any_api, base, b, pid) as to_b,
        listening(any_api, base, third, pid, events=True) as bystander,
    ):
        offer = await send(any_api, c.host, pid, a.id, "OFFER", "v=0 offer for A")
        assert offer == {
            "__typename": "SendSignalPayload",
            "toUserId": a.id,
            "kind": "OFFER",
            "sentAt": offer["sentAt"],
        }
        answer = await send(any_api, c.host, pid, b.id, "ANSWER", "v=0 answer for B")
        candidate = await send(any_api, a, pid, b.id, "ICE_CANDIDATE", CANDIDATE)
        assert await to_a.signal() == {
            "fromUserId": c.host.id,
            "kind": "OFFER",
            "payload": sdp("v=0 offer for A"),
            "sentAt": offer["sentAt"],
        }
        assert await to_b.signal() == {
            "fromUserId": c.host.id,
            "kind": "ANSWER",
            "payload": sdp("v=0 answer for B"),
            "sentAt": answer["sentAt"],
        }
        assert await to_b.signal() == {
            "fromUserId": a.id,
            "kind": "ICE_CANDIDATE",
            "payload": CANDIDATE,
            "sentAt": candidate["sentAt"],
        }
        # The bystander's streams carry none of that: the first things they get after it are a
        # signal meant for them and the voice event that follows it.
        await send(any_api, c.host, pid, third.id, "OFFER", "marker")
        await op(any_api, "joinVoice", c.host, partyId=pid)
        signals: list[Any] = []
        events: list[Any] = []
        while not (signals and any(e["__typename"] == "VoiceStateChanged" for e in events)):
            message = await bystander.message()
            assert message["type"] == "next", message
            data = message["payload"]["data"]
            if bystander.ops[message["id"]] == "signals":
                signals.append(data["signals"]["payload"])
            else:
                events.append(data["partyEvents"]["event"])
        assert signals == [sdp("marker")]
        kinds = [e["__typename"] for e in events]
        assert set(kinds) <= {"PartySnapshot", "PresenceChanged", "VoiceStateChanged"}, kinds
        assert kinds[0] == "PartySnapshot"
        assert kinds[-1] == "VoiceStateChanged"
        assert "v=0" not in str(events)


async def test_send_signal_errors(any_api: Api) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    member = c.member
    assert await send(any_api, None, pid, member.id, "OFFER", "x") == NOT_AUTHENTICATED
    assert await send(any_api, c.stranger, pid, member.id, "OFFER", "x") == NOT_ALLOWED
    assert await send(any_api, c.host, pid, c.host.id, "OFFER", "x") == error(
        "ValidationError", "VALIDATION", "You cannot send a signal to yourself.", "toUserId"
    )
    for nobody in (c.stranger.id, str(uuid.uuid4()), "not-an-id"):
        assert await send(any_api, c.host, pid, nobody, "OFFER", "x") == RECIPIENT_NOT_FOUND
    left = await mutate(any_api, "leaveParty", member.token, partyId=pid)
    assert left["__typename"] == "LeavePartyPayload", left
    assert await send(any_api, c.host, pid, member.id, "OFFER", "x") == RECIPIENT_NOT_FOUND
    assert await send(any_api, member, pid, c.host.id, "OFFER", "x") == NOT_ALLOWED
    # Payloads: 16 KB of UTF-8 as compact JSON, counted in bytes, not characters.
    room = 16384 - len('{"type":"offer","sdp":""}')
    fits = await send(any_api, c.host, pid, c.cohost.id, "OFFER", "a" * room)
    assert fits["__typename"] == "SendSignalPayload", fits
    too_big = error(
        "ValidationError",
        "VALIDATION",
        "A signal payload is at most 16384 bytes of UTF-8 as compact JSON.",
        "payload",
    )
    assert await send(any_api, c.host, pid, c.cohost.id, "OFFER", "a" * (room + 1)) == too_big
    assert await send(any_api, c.host, pid, c.cohost.id, "OFFER", "é" * (room // 2 + 1)) == (
        too_big
    )

    private = await cast(any_api, visibility="PRIVATE")
    ppid = private.party["id"]
    assert await send(any_api, private.stranger, ppid, private.host.id, "OFFER", "x") == NOT_FOUND
    assert await send(any_api, None, ppid, private.host.id, "OFFER", "x") == NOT_AUTHENTICATED


async def test_a_payload_is_a_bounded_json_object(any_api: Api) -> None:
    c = await cast(any_api)
    pid, to = c.party["id"], c.cohost.id

    def invalid(message: str) -> dict[str, Any]:
        return error("ValidationError", "VALIDATION", message, "payload")

    not_object = invalid(
        "A signal payload is a JSON object, such as RTCSessionDescription.toJSON()."
    )
    for shape in ([sdp("v=0")], 42, 1.5, True):  # `send` wraps strings: see below
        assert await send(any_api, c.host, pid, to, "OFFER", shape) == not_object, shape
    # A JSON string is a string, not an object: the old String payload is refused, not parsed.
    raw = await any_api.gql(
        """mutation($input: SendSignalInput!) { sendSignal(input: $input) {
            __typename ... on UserError { code message field } } }""",
        {"input": {"partyId": pid, "toUserId": to, "kind": "OFFER", "payload": '{"sdp":"x"}'}},
        token=c.host.token,
    )
    assert raw.data["sendSignal"] == {"__typename": "ValidationError", **not_object}

    nested: Any = {"sdp": "v=0"}
    for _ in range(7):
        nested = {"a": nested}  # 8 levels: the limit
    sent = await send(any_api, c.host, pid, to, "OFFER", nested)
    assert sent["__typename"] == "SendSignalPayload", sent
    assert await send(any_api, c.host, pid, to, "OFFER", {"a": nested}) == invalid(
        "A signal payload nests at most 8 levels."
    )
    assert await send(any_api, c.host, pid, to, "OFFER", {"a": [[[[[[[[1]]]]]]]]}) == invalid(
        "A signal payload nests at most 8 levels."
    )
    # Text no encoder takes is refused like in any other input (by the input gate, which names
    # the key inside the payload, or by the payload check).
    surrogate = await send(any_api, c.host, pid, to, "OFFER", {"type": "offer", "sdp": "\ud800"})
    assert (surrogate["__typename"], surrogate["code"]) == ("ValidationError", "VALIDATION")
    assert surrogate["field"] in ("payload", "payload.sdp"), surrogate
    # An inline literal is a JSON value too.
    inline = await any_api.gql(
        """mutation($p: ID!, $to: ID!) { sendSignal(input: {partyId: $p, toUserId: $to,
            kind: ANSWER, payload: {type: "answer", sdp: "v=0"}}) { __typename } }""",
        {"p": pid, "to": to},
        token=c.host.token,
    )
    assert inline.data["sendSignal"] == {"__typename": "SendSignalPayload"}


async def _stream_errors(base: str, who: Person | None, party_id: str) -> list[dict[str, Any]]:
    async with graphql_socket(base) as socket:
        ack = await socket.init({"authorization": f"Bearer {who.token}"} if who else {})
        assert ack["type"] == "connection_ack", ack
        messages = await socket.execute(SIGNALS, {"partyId": party_id})
    assert messages[-1]["type"] == "complete", messages
    errors: list[dict[str, Any]] = messages[0]["payload"]["errors"]
    return [{"message": e["message"], "code": e["extensions"]["code"]} for e in errors]


async def test_only_active_members_may_listen(any_api: Api) -> None:
    public = await cast(any_api)
    private = await cast(any_api, visibility="PRIVATE")
    not_found = [{"message": "Party not found.", "code": "NOT_FOUND"}]
    async with live_server(any_api.app) as base:
        pid = public.party["id"]
        assert await _stream_errors(base, None, pid) == [
            {"message": "You need to sign in.", "code": "NOT_AUTHENTICATED"}
        ]
        assert await _stream_errors(base, public.stranger, pid) == [
            {"message": "Only members of this party can do that.", "code": "NOT_ALLOWED"}
        ]
        ppid = private.party["id"]
        assert await _stream_errors(base, private.stranger, ppid) == not_found
        assert await _stream_errors(base, None, ppid) == not_found
        assert await _stream_errors(base, private.host, str(uuid.uuid4())) == not_found
        assert await _stream_errors(base, private.host, "not-an-id") == not_found


@pytest.mark.parametrize("how", ["kick", "ban", "leave"])
async def test_the_stream_ends_when_membership_does(any_api: Api, how: str) -> None:
    c = await cast(any_api)
    pid = c.party["id"]
    async with (
        live_server(any_api.app) as base,
        listening(any_api, base, c.member, pid) as listener,
    ):
        await send(any_api, c.host, pid, c.member.id, "OFFER", "before")
        assert (await listener.signal())["payload"] == sdp("before")
        if how == "leave":
            answer = await mutate(any_api, "leaveParty", c.member.token, partyId=pid)
        else:
            name = "kickMember" if how == "kick" else "banMember"
            answer = await mutate(any_api, name, c.host.token, partyId=pid, userId=c.member.id)
        assert "code" not in answer, answer
        ended = await listener.signal()
        assert ended["type"] == "complete", ended


async def test_signals_are_rate_limited(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path, rate_limit_signals="2/60"
    )
    async with running_app(settings, worker=False) as api:
        c = await cast(api)
        pid = c.party["id"]
        for _ in range(2):
            sent = await send(api, c.host, pid, c.member.id, "ICE_CANDIDATE", CANDIDATE)
            assert sent["__typename"] == "SendSignalPayload", sent
        limited = await send(api, c.host, pid, c.member.id, "ICE_CANDIDATE", CANDIDATE)
        retry = limited["retryAfterSeconds"]
        assert 1 <= retry <= 60
        assert limited == {
            **error(
                "RateLimited", "RATE_LIMITED", f"Too many attempts. Try again in {retry} seconds."
            ),
            "retryAfterSeconds": retry,
        }
        # The budget is the sender's: the member can still answer.
        sent = await send(api, c.member, pid, c.host.id, "ANSWER", "a")
        assert sent["__typename"] == "SendSignalPayload", sent


async def test_two_api_processes_share_voice_and_relay_signals(pg_url: str, tmp_path: Path) -> None:
    """Two app instances on one PostgreSQL and one Redis (same key prefix), as two `serve`
    processes would be: the voice room, the screen-share limit and signals cross over."""
    prefix = f"wptest-{uuid.uuid4().hex[:8]}:"
    one_settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path / "one", redis_key_prefix=prefix
    )
    two_settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path / "two", redis_key_prefix=prefix
    )
    async with (
        running_app(one_settings, worker=False) as one,
        running_app(two_settings, worker=False) as two,
        live_server(two.app) as base_two,
    ):
        c = await cast(one)
        pid = c.party["id"]
        joined = await op(one, "joinVoice", c.member, partyId=pid)
        assert joined["__typename"] == "VoiceParticipantPayload", joined
        room = await two.gql(
            "query($id: ID!) { party(id: $id) { voiceParticipants { user { id } } } }",
            {"id": pid},
            token=c.host.token,
        )
        assert room.data["party"]["voiceParticipants"] == [{"user": {"id": c.member.id}}]
        assert (await op(one, "startScreenShare", c.member, partyId=pid))["__typename"] == (
            "ScreenSharePayload"
        )
        assert (await op(two, "startScreenShare", c.cohost, partyId=pid))["code"] == "CONFLICT"
        async with listening(two, base_two, c.cohost, pid) as listener:
            sent = await send(one, c.member, pid, c.cohost.id, "OFFER", "across")
            assert await listener.signal() == {
                "fromUserId": c.member.id,
                "kind": "OFFER",
                "payload": sdp("across"),
                "sentAt": sent["sentAt"],
            }
