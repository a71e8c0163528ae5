"""GraphQL types of chat, rendered from the payloads of `chat.payloads.message_payload` (the same
ones stored in party events), plus inputs, the chat error types and `returns_chat_errors`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from watchparty.accounts.types import User
from watchparty.chat import errors
from watchparty.context import Info
from watchparty.errors import Problem
from watchparty.gql.errors import UserError, errors_mapped_by
from watchparty.gql.pagination import PageInfo
from watchparty.gql.shared import event_loader
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.parties.error_types import to_party_error
from watchparty.parties.member_types import user_from_payload


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@same_for_every_viewer("emoji", "count")
@strawberry.type(description="How many members reacted to a message with one emoji.")
class MessageReactionCount:
    emoji: str
    count: int
    _message_id: strawberry.Private[uuid.UUID]
    _user_ids: strawberry.Private[frozenset[str]]
    _complete: strawberry.Private[bool]

    @strawberry.field(description="Whether the viewer is among them.")
    async def reacted_by_me(self, info: Info) -> bool:
        viewer_id = info.context.viewer_id
        if viewer_id is None:
            return False
        if str(viewer_id) in self._user_ids:
            return True
        if self._complete:
            return False
        from watchparty.chat.loaders import MY_REACTIONS, my_reactions_loader

        loader = event_loader(info, MY_REACTIONS, my_reactions_loader)
        return await loader.load((self._message_id, viewer_id, self.emoji))

    @classmethod
    def from_payload(cls, message_id: uuid.UUID, payload: dict[str, Any]) -> MessageReactionCount:
        return cls(
            emoji=payload["emoji"],
            count=payload["count"],
            _message_id=message_id,
            _user_ids=frozenset(payload.get("userIds", [])),
            _complete=payload.get("complete", True),
        )


@same_for_every_viewer()
@strawberry.type(
    description="A chat message. Plain text: render it as text, never as HTML. A deleted or "
    "hidden message stays in history as a tombstone (body, replyTo and reactions empty)."
)
class ChatMessage:
    id: strawberry.ID
    party_id: strawberry.ID
    author: User | None = strawberry.field(description="Null when that account is gone.")
    body: str | None = strawberry.field(description="Null when deleted or hidden.")
    reply_to: ChatMessage | None = strawberry.field(
        description="The message this one answers, as a preview (body cut to 200 characters; "
        "its own replyTo and reactions empty); null if none or gone."
    )
    created_at: datetime
    edited_at: datetime | None
    edited: bool
    deleted: bool
    hidden: bool = strawberry.field(description="A moderator hid it (see hideMessage).")
    client_id: str | None = strawberry.field(
        description="The sender's idempotency key, to match an optimistic message."
    )
    reactions: list[MessageReactionCount] = strawberry.field(
        description="Counts per emoji, in the order of allowedEmoji."
    )
    cursor: str = strawberry.field(
        description="The message's place in the party's chat (history `before` cursor); the "
        "same in history and on the stream."
    )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChatMessage:
        message_id = uuid.UUID(payload["id"])
        author = payload.get("author")
        reply = payload.get("replyTo")
        created_at = _dt(payload["createdAt"])
        assert created_at is not None
        edited_at = _dt(payload.get("editedAt"))
        return cls(
            id=strawberry.ID(payload["id"]),
            party_id=strawberry.ID(payload["partyId"]),
            author=None if author is None else user_from_payload(author),
            body=payload.get("body"),
            reply_to=None if reply is None else ChatMessage.from_payload(reply),
            created_at=created_at,
            edited_at=edited_at,
            edited=edited_at is not None,
            deleted=payload.get("deleted", False),
            hidden=payload.get("hidden", False),
            client_id=payload.get("clientId"),
            reactions=[
                MessageReactionCount.from_payload(message_id, r)
                for r in payload.get("reactions", [])
            ],
            cursor=str(payload["seq"]),
        )


@strawberry.type
class ChatMessageEdge:
    cursor: str
    node: ChatMessage


@strawberry.type(
    description="A page of history, newest first. For older messages pass "
    "`pageInfo.endCursor` as `before`; hasPreviousPage says whether there are any."
)
class ChatMessageConnection:
    edges: list[ChatMessageEdge]
    page_info: PageInfo


@strawberry.type
class ChatMessagePayload:
    # Not `message`: that would clash with `UserError.message` in `... on UserError` selections.
    message: ChatMessage = strawberry.field(name="chatMessage")


@strawberry.type
class SetTypingPayload:
    party_id: strawberry.ID
    typing: bool
    expires_in_ms: int | None = strawberry.field(
        description="typing=true lasts this long (5000) unless renewed; null for typing=false."
    )


# -- inputs -------------------------------------------------------------------------------------


@strawberry.input
class SendMessageInput:
    party_id: strawberry.ID
    body: str = strawberry.field(description="Plain text, 1..2000 characters after trimming.")
    reply_to_id: strawberry.ID | None = None
    client_id: str | None = strawberry.field(
        default=None,
        description="Up to 64 characters; resending with the same clientId returns the same "
        "message instead of a new one.",
    )


@strawberry.input
class EditMessageInput:
    message_id: strawberry.ID
    body: str


@strawberry.input
class DeleteMessageInput:
    message_id: strawberry.ID


@strawberry.input
class MessageReactionInput:
    message_id: strawberry.ID
    emoji: str = strawberry.field(description="One of allowedEmoji.")


@strawberry.input
class SetTypingInput:
    party_id: strawberry.ID
    typing: bool


# -- errors -------------------------------------------------------------------------------------


@strawberry.type(description="The party's chat is turned off.")
class ChatDisabled(UserError):
    pass


@strawberry.type(description="A moderator muted the viewer in this party.")
class Muted(UserError):
    until: datetime | None = strawberry.field(description="Null: until unmuted.")


def to_chat_error(problem: Problem) -> UserError:
    if isinstance(problem, errors.Muted):
        return Muted(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            until=problem.until,
        )
    if isinstance(problem, errors.ChatDisabled):
        return ChatDisabled(code=problem.code, message=problem.message, field=problem.field)  # type: ignore[arg-type]
    return to_party_error(problem)


returns_chat_errors = errors_mapped_by(to_chat_error)
