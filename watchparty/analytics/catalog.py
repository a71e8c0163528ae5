"""The declared event catalog: every name an event may carry, who may send it, and the
properties it may hold (anything else is dropped, never stored).

Client events come through `trackEvents` and the beacon; server events through
`watchparty.tracking` (a client sending a server name is rejected as UNKNOWN_NAME, so nobody
can forge a sign-in or a chat message count). Property values are scalars: strings (bounded),
numbers and booleans.
"""

from __future__ import annotations

from dataclasses import dataclass

from watchparty.analytics.models import EventSource

MAX_PROPERTIES = 20
MAX_PROPERTY_KEY = 40
MAX_PROPERTY_STRING = 200


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    source: EventSource
    properties: frozenset[str] = frozenset()
    description: str = ""


def _spec(name: str, source: EventSource, *properties: str, description: str = "") -> EventSpec:
    return EventSpec(name, source, frozenset(properties), description)


C = EventSource.CLIENT
S = EventSource.SERVER

CATALOG: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        # pages and views
        _spec("page.view", C, "path", "referrer", "title", description="a page was shown"),
        _spec("video.view", C, "provider", description="a player started loading a video"),
        # the player
        _spec("player.play", C),
        _spec("player.pause", C),
        _spec("player.seek", C, "fromSeconds", "toSeconds"),
        _spec("player.buffering_start", C),
        _spec("player.buffering_end", C, "durationMs"),
        _spec("player.quality_change", C, "quality", "bitrate", "auto"),
        _spec("player.error", C, "code", "message", "fatal"),
        _spec(
            "player.heartbeat",
            C,
            "watchedSeconds",
            "playbackRate",
            description="sent while playing (every 10-60 s): watchedSeconds since the last one",
        ),
        _spec("player.complete", C, description="the video played to (near) its end"),
        _spec("player.fullscreen", C, "on"),
        _spec("player.volume", C, "level", "muted"),
        # the party's interface
        _spec("party.ui.chat_open", C),
        _spec("party.ui.chat_close", C),
        _spec("party.ui.invite_open", C),
        _spec("party.ui.invite_copy", C, "channel"),
        _spec("party.ui.share", C, "channel"),
        _spec("party.ui.reaction_picker", C),
        _spec("party.ui.voice_toggle", C, "on"),
        _spec("party.ui.settings_open", C),
        # the server's own
        _spec("auth.sign_in", S, "method"),
        _spec("auth.sign_up", S, "method"),
        _spec("party.create", S, "visibility"),
        _spec("party.join", S, "role"),
        _spec("party.leave", S, "reason"),
        _spec("party.online", S),
        _spec("party.offline", S),
        _spec("party.playback", S, "action", "rate"),
        _spec("chat.message", S),
        _spec("reaction.send", S, "emoji"),
        _spec("poll.vote", S),
        _spec("player.report", S, "driftMs", "buffering"),
        _spec("video.upload", S, "bytes"),
        _spec("video.processed", S, "outcome", "durationSeconds"),
        _spec("billing.subscribed", S, "plan"),
    )
}

CLIENT_NAMES = frozenset(n for n, s in CATALOG.items() if s.source is EventSource.CLIENT)
SERVER_NAMES = frozenset(n for n, s in CATALOG.items() if s.source is EventSource.SERVER)
