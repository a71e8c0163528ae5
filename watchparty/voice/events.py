"""Voice's events: the voice room and screen shares on the party stream (ephemeral), and the
WebRTC signals relayed to one member (`signal_channel`, ephemeral)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, channel_of, register


def signal_channel(party_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return channel_of("signals", party_id, user_id)


@register("voice.state_changed", stored=False, legacy="VoiceStateChanged")
@dataclass(frozen=True, slots=True)
class VoiceStateChanged(Event):
    """`in_voice: False` comes with `muted` and `speaking` False."""

    user_id: str
    in_voice: bool
    muted: bool
    speaking: bool


@register("voice.screen_share_changed", stored=False, legacy="ScreenShareChanged")
@dataclass(frozen=True, slots=True)
class ScreenShareChanged(Event):
    user_id: str
    active: bool


@register("voice.signal", stored=False, legacy="Signal")
@dataclass(frozen=True, slots=True)
class SignalSent(Event):
    from_user_id: str
    kind: str
    payload: dict[str, Any]
    sent_at_ms: float
