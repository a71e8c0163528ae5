"""This domain's members of the party stream's event union (see `parties.stream_types`).

The contract every domain's `events.py` keeps:
- `EVENT_TYPES`: the Strawberry types added to `PartyEventUnion`;
- `RENDERERS`: event `type` -> `render(payload, party_id)` building the union member from the
  stored (or ephemeral) payload dict, without database reads;
- `STORED`: the types recorded with `parties.stream.record_event` (cursor, replay);
  `EPHEMERAL`: the types sent with `parties.stream.publish_ephemeral_event` (never replayed);
- `SHARED_FIELDS`: GraphQL type name -> the fields whose value is the same for every viewer
  (None: all of them). A selection touching any other field runs per subscriber.

Chat: ChatMessageAdded / ChatMessageUpdated carry the whole message payload
(`chat.payloads.message_payload`); ChatMessageDeleted only the id (the body is gone everywhere);
TypingChanged is ephemeral. Only `MessageReactionCount.reactedByMe` depends on the viewer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

if TYPE_CHECKING:
    from watchparty.chat.types import ChatMessage

ChatMessageT = Annotated["ChatMessage", strawberry.lazy("watchparty.chat.types")]


@strawberry.type(description="A new chat message.")
class ChatMessageAdded:
    message: ChatMessageT


@strawberry.type(description="A message was edited, hidden, or its reactions changed.")
class ChatMessageUpdated:
    message: ChatMessageT


@strawberry.type(description="A message was deleted: drop its body (history keeps a tombstone).")
class ChatMessageDeleted:
    message_id: strawberry.ID


@strawberry.type(
    description="A member started or stopped typing. Ephemeral (no cursor, never replayed). "
    "typing=true lasts `expiresInMs` (5000) unless renewed: clients clear it after that, or "
    "when the member's message arrives."
)
class TypingChanged:
    user_id: strawberry.ID
    typing: bool
    expires_in_ms: int | None


def _message(payload: dict[str, Any]) -> Any:
    from watchparty.chat.types import ChatMessage

    return ChatMessage.from_payload(payload)


RENDERERS: dict[str, Callable[[dict[str, Any], uuid.UUID], Any]] = {
    "ChatMessageAdded": lambda p, _: ChatMessageAdded(message=_message(p["message"])),
    "ChatMessageUpdated": lambda p, _: ChatMessageUpdated(message=_message(p["message"])),
    "ChatMessageDeleted": lambda p, _: ChatMessageDeleted(
        message_id=strawberry.ID(str(p["messageId"]))
    ),
    "TypingChanged": lambda p, _: TypingChanged(
        user_id=strawberry.ID(str(p["userId"])),
        typing=bool(p["typing"]),
        expires_in_ms=p.get("expiresInMs"),
    ),
}
EVENT_TYPES: tuple[type, ...] = (
    ChatMessageAdded,
    ChatMessageUpdated,
    ChatMessageDeleted,
    TypingChanged,
)
STORED: frozenset[str] = frozenset({"ChatMessageAdded", "ChatMessageUpdated", "ChatMessageDeleted"})
EPHEMERAL: frozenset[str] = frozenset({"TypingChanged"})
SHARED_FIELDS: dict[str, frozenset[str] | None] = {
    "ChatMessageAdded": frozenset({"message"}),
    "ChatMessageUpdated": frozenset({"message"}),
    "ChatMessageDeleted": frozenset({"messageId"}),
    "TypingChanged": None,
    "ChatMessage": None,
    "MessageReactionCount": frozenset({"emoji", "count"}),
}
