"""The stored event format is declared by the event classes (`watchparty.events`), versioned, and
readable across releases: a log written before envelope 2 (keys were GraphQL field names) still
replays, a kind this release does not know is skipped without ending the stream, and a type that
changes shape reads its older rows through its upgrades."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import Api, live_server
from tests.test_party_stream_support import create_party, party_stream, seek, user
from watchparty.events import Event, decode, encode, event_types, register
from watchparty.parties.events import MembershipRevoked
from watchparty.realtime import append_event, publish_after_commit


@register("test.renamed", version=3, upgrades={1: lambda d: {"title": d["name"]}})
@dataclass(frozen=True, slots=True)
class Renamed(Event):
    """Version 1 called the field `name`; version 2 renamed it (and 2 -> 3 changed nothing)."""

    title: str


def test_every_registered_type_is_a_frozen_dataclass_with_a_unique_dotted_kind() -> None:
    import watchparty.registry  # noqa: F401  (what every process imports: all the event modules)

    kinds = event_types()
    assert {
        "party.playback_changed",
        "party.queue_changed",
        "party.member_joined",
        "party.member_updated",
        "party.member_left",
        "party.updated",
        "party.ended",
        "party.membership_revoked",
        "party.presence_changed",
        "chat.message_added",
        "chat.message_updated",
        "chat.message_deleted",
        "chat.typing_changed",
        "polls.poll_changed",
        "reactions.reaction_sent",
        "voice.state_changed",
        "voice.screen_share_changed",
        "voice.signal",
        "videos.processing_changed",
        "videos.deleted",
    } <= set(kinds)
    for kind, cls in kinds.items():
        assert kind == cls.KIND and "." in kind
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_encode_is_the_declared_envelope_and_decode_reads_it_back() -> None:
    event = MembershipRevoked(reason="KICKED", user_id="u-1")
    assert encode(event) == {
        "v": 2,
        "kind": "party.membership_revoked",
        "version": 1,
        "data": {"reason": "KICKED", "user_id": "u-1"},
    }
    assert decode(encode(event)) == event


def test_version_1_envelopes_and_older_data_versions_are_upgraded() -> None:
    legacy = {"type": "MembershipRevoked", "userId": "u-2", "reason": "BANNED"}
    assert decode(legacy) == MembershipRevoked(reason="BANNED", user_id="u-2")
    old = {"v": 2, "kind": "test.renamed", "version": 1, "data": {"name": "Friday"}}
    assert decode(old) == Renamed(title="Friday")
    assert decode({"v": 2, "kind": "test.renamed", "version": 3, "data": {"title": "x"}}) == (
        Renamed(title="x")
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 2, "kind": "from.the.future", "version": 1, "data": {}},
        {"type": "SomethingNew", "x": 1},
        {"v": 2, "kind": "party.membership_revoked", "version": 1, "data": {"reason": "NOPE"}},
        {"v": 2, "kind": "party.member_left", "version": 1, "data": {}},
        {"v": 2, "kind": "party.member_left"},
    ],
)
def test_what_cannot_be_read_is_none_not_an_exception(payload: dict[str, Any]) -> None:
    assert decode(payload) is None


async def test_a_log_written_in_the_old_format_replays_to_a_resuming_client(any_api: Api) -> None:
    host = await user(any_api, "Host")
    party_id = await create_party(any_api, host)
    revision = await seek(any_api, host, party_id, 4.0)
    async with live_server(any_api.app) as base:
        async with party_stream(base, host, party_id) as stream:
            snapshot = await stream.next()
        cursor = int(snapshot["cursor"])
        gone = str(uuid.uuid4())
        async with any_api.state.unit_of_work() as uow:
            channel = f"party:{party_id}"
            # Three rows as an older release wrote them, and one of a kind from a newer one.
            for payload in (
                {"type": "MemberLeft", "userId": gone},
                {"v": 2, "kind": "from.the.future", "version": 7, "data": {"x": 1}},
                {"type": "PartyUpdated", "party": snapshot_party_payload(party_id, "Old title")},
            ):
                entry = await append_event(uow.session, channel, payload)
                publish_after_commit(uow, any_api.state.hub, entry)
        async with party_stream(base, host, party_id, after=str(cursor)) as stream:
            first = await stream.next()
            assert (first["event"]["__typename"], first["resync"]) == ("PartySnapshot", False)
            left = await stream.next_event("PresenceChanged")
            assert left["cursor"] == str(cursor + 1)
            assert left["event"] == {"__typename": "MemberLeft", "userId": gone}
            updated = await stream.next_event("PresenceChanged")
            assert updated["cursor"] == str(cursor + 3)  # the unknown kind is skipped
            assert updated["event"] == {
                "__typename": "PartyUpdated",
                "party": {
                    "id": party_id,
                    "title": "Old title",
                    "description": None,
                    "visibility": "PRIVATE",
                },
            }
            # ...and then live events in the current format, without a gap.
            again = await seek(any_api, host, party_id, 9.0)
            live = await stream.next_event("PresenceChanged")
            assert live["cursor"] == str(cursor + 4)
            assert live["event"]["playback"]["revision"] == again > revision


def snapshot_party_payload(party_id: str, title: str) -> dict[str, Any]:
    """A party payload in the shape `parties.payloads.party_payload` wrote in envelope 1."""
    return {
        "id": party_id,
        "title": title,
        "description": None,
        "code": "ABCDEFGH",
        "visibility": "PRIVATE",
        "status": "SCHEDULED",
        "hostId": str(uuid.uuid4()),
        "settings": {
            "maxMembers": 50,
            "requireApproval": False,
            "controlPolicy": "HOST_ONLY",
            "chatEnabled": True,
            "reactionsEnabled": True,
            "waitForBuffering": False,
            "bufferingTimeoutSeconds": 10,
            "slowModeSeconds": 0,
            "pollPolicy": "MODERATORS",
            "maxScreenShares": 1,
        },
        "scheduledStart": None,
        "startedAt": None,
        "endedAt": None,
        "createdAt": "2026-12-06T10:00:00+00:00",
    }
