"""This domain's members of the party stream's event union (see `parties.stream_types`).

The contract every domain's `events.py` keeps:
- `EVENT_TYPES`: the Strawberry types added to `PartyEventUnion`;
- `RENDERERS`: event `type` -> `render(payload, party_id)` building the union member from the
  stored (or ephemeral) payload dict, without database reads;
- `STORED`: the types recorded with `parties.stream.record_event` (cursor, replay);
  `EPHEMERAL`: the types sent with `parties.stream.publish_ephemeral_event` (never replayed);
- `SHARED_FIELDS`: GraphQL type name -> the fields whose value is the same for every viewer
  (None: all of them). A selection touching any other field runs per subscriber.

Voice and screen-share changes are ephemeral: a client that reconnects reads the current room
from its snapshot (`Party.voiceParticipants`, `Party.screenShares`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry


@strawberry.type(
    description="A member joined or left the voice room, or changed muted / speaking "
    "(`inVoice: false` comes with `muted` and `speaking` false)."
)
class VoiceStateChanged:
    user_id: strawberry.ID
    in_voice: bool
    muted: bool
    speaking: bool


@strawberry.type(description="A member started (`active: true`) or stopped sharing a screen.")
class ScreenShareChanged:
    user_id: strawberry.ID
    active: bool


def _voice_state(payload: dict[str, Any], party_id: uuid.UUID) -> VoiceStateChanged:
    return VoiceStateChanged(
        user_id=strawberry.ID(str(payload["userId"])),
        in_voice=bool(payload["inVoice"]),
        muted=bool(payload["muted"]),
        speaking=bool(payload["speaking"]),
    )


def _screen_share(payload: dict[str, Any], party_id: uuid.UUID) -> ScreenShareChanged:
    return ScreenShareChanged(
        user_id=strawberry.ID(str(payload["userId"])), active=bool(payload["active"])
    )


EVENT_TYPES: tuple[type, ...] = (VoiceStateChanged, ScreenShareChanged)
RENDERERS: dict[str, Callable[[dict[str, Any], uuid.UUID], Any]] = {
    "VoiceStateChanged": _voice_state,
    "ScreenShareChanged": _screen_share,
}
STORED: frozenset[str] = frozenset()
EPHEMERAL: frozenset[str] = frozenset(RENDERERS)
SHARED_FIELDS: dict[str, frozenset[str] | None] = {
    "VoiceStateChanged": None,
    "ScreenShareChanged": None,
}
