"""Chat's events on the party stream. `message` is `chat.payloads.message_payload`; a deleted
message carries only its id (the body is gone everywhere); typing is ephemeral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, register


@register("chat.message_added", legacy="ChatMessageAdded")
@dataclass(frozen=True, slots=True)
class MessageAdded(Event):
    message: dict[str, Any]


@register("chat.message_updated", legacy="ChatMessageUpdated")
@dataclass(frozen=True, slots=True)
class MessageUpdated(Event):
    message: dict[str, Any]


@register("chat.message_deleted", legacy="ChatMessageDeleted")
@dataclass(frozen=True, slots=True)
class MessageDeleted(Event):
    message_id: str


@register("chat.typing_changed", stored=False, legacy="TypingChanged")
@dataclass(frozen=True, slots=True)
class TypingChanged(Event):
    user_id: str
    typing: bool
    expires_in_ms: int | None = None
