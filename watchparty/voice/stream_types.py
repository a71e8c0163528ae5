"""Voice's members of the party stream's union (the contract: `parties/stream_types.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.voice import events


@same_for_every_viewer()
@strawberry.type(
    description="A member joined or left the voice room, or changed muted / speaking "
    "(`inVoice: false` comes with `muted` and `speaking` false)."
)
class VoiceStateChanged:
    user_id: strawberry.ID
    in_voice: bool
    muted: bool
    speaking: bool


@same_for_every_viewer()
@strawberry.type(description="A member started (`active: true`) or stopped sharing a screen.")
class ScreenShareChanged:
    user_id: strawberry.ID
    active: bool


RENDERERS: dict[type[Any], Callable[[Any, uuid.UUID], Any]] = {
    events.VoiceStateChanged: lambda e, _: VoiceStateChanged(
        user_id=strawberry.ID(e.user_id),
        in_voice=bool(e.in_voice),
        muted=bool(e.muted),
        speaking=bool(e.speaking),
    ),
    events.ScreenShareChanged: lambda e, _: ScreenShareChanged(
        user_id=strawberry.ID(e.user_id), active=bool(e.active)
    ),
}
EVENT_TYPES: tuple[type, ...] = (VoiceStateChanged, ScreenShareChanged)
