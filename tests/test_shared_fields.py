"""What a party event's subscribers may share is derived from the declarations on the types
(`gql.sharing.same_for_every_viewer`): exactly the fields declared, and never a field whose value
depends on who is looking."""

from __future__ import annotations

from watchparty.gql.sharing import shared_fields
from watchparty.schema import build_schema

SCHEMA = build_schema()._schema


def test_the_derived_allow_list_holds_the_declared_fields() -> None:
    shared = shared_fields(SCHEMA)
    assert shared["Subscription"] == {"partyEvents"}
    assert shared["PartyEvent"] == {"cursor", "occurredAt", "resync", "event"}
    assert shared["User"] == {"id", "displayName", "avatarUrl", "bio", "createdAt"}
    assert shared["PartyMember"] == {"user", "role", "status", "online", "joinedAt", "lastDriftMs"}
    assert shared["MessageReactionCount"] == {"emoji", "count"}
    assert shared["Party"] == {
        "id",
        "title",
        "description",
        "visibility",
        "status",
        "settings",
        "scheduledStart",
        "startedAt",
        "endedAt",
        "createdAt",
        "host",
        "memberCount",
        "onlineCount",
        "members",
        "playback",
        "queue",
    }
    every_field = ("PlaybackState", "QueueItem", "PartySettings", "PageInfo", "ChatMessage")
    for name in every_field:
        assert shared[name] == set(SCHEMA.type_map[name].fields), name  # type: ignore[attr-defined]


def test_viewer_dependent_fields_are_never_shared() -> None:
    shared = shared_fields(SCHEMA)
    for type_name, field in [
        ("Party", "code"),  # null for non-members of UNLISTED and PRIVATE parties
        ("Party", "myMembership"),
        ("Party", "joinRequests"),
        ("Party", "inviteLinks"),
        ("Party", "messages"),
        ("Party", "myMute"),
        ("User", "email"),
        ("MessageReactionCount", "reactedByMe"),
        ("Poll", "myOptionIds"),
        ("Subscription", "signals"),
        ("Subscription", "videoProcessing"),
    ]:
        assert field in SCHEMA.type_map[type_name].fields, (type_name, field)  # type: ignore[attr-defined]
        assert field not in shared.get(type_name, set()), (type_name, field)
    assert "PartySnapshot" not in shared  # rendered per viewer (the code, the membership)
