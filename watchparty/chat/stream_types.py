"""Chat's members of the party stream's union (the contract: `parties/stream_types.py`).

Only `MessageReactionCount.reactedByMe` depends on the viewer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry

from watchparty.chat import events
from watchparty.chat.types import ChatMessage
from watchparty.gql.sharing import same_for_every_viewer


@same_for_every_viewer()
@strawberry.type(description="A new chat message.")
class ChatMessageAdded:
    message: ChatMessage


@same_for_every_viewer()
@strawberry.type(description="A message was edited, hidden, or its reactions changed.")
class ChatMessageUpdated:
    message: ChatMessage


@same_for_every_viewer()
@strawberry.type(description="A message was deleted: drop its body (history keeps a tombstone).")
class ChatMessageDeleted:
    message_id: strawberry.ID


@same_for_every_viewer()
@strawberry.type(
    description="A member started or stopped typing. Ephemeral (no cursor, never replayed). "
    "typing=true lasts `expiresInMs` (5000) unless renewed: clients clear it after that, or "
    "when the member's message arrives."
)
class TypingChanged:
    user_id: strawberry.ID
    typing: bool
    expires_in_ms: int | None


RENDERERS: dict[type[Any], Callable[[Any, uuid.UUID], Any]] = {
    events.MessageAdded: lambda e, _: ChatMessageAdded(message=ChatMessage.from_payload(e.message)),
    events.MessageUpdated: lambda e, _: ChatMessageUpdated(
        message=ChatMessage.from_payload(e.message)
    ),
    events.MessageDeleted: lambda e, _: ChatMessageDeleted(message_id=strawberry.ID(e.message_id)),
    events.TypingChanged: lambda e, _: TypingChanged(
        user_id=strawberry.ID(e.user_id), typing=bool(e.typing), expires_in_ms=e.expires_in_ms
    ),
}
EVENT_TYPES: tuple[type, ...] = (
    ChatMessageAdded,
    ChatMessageUpdated,
    ChatMessageDeleted,
    TypingChanged,
)
