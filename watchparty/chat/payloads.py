"""Chat message payloads: pure, JSON-safe dicts whose keys are the GraphQL field names of
`types.ChatMessage`, stored in stream events and built for history pages alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.chat.models import ChatMessage
from watchparty.parties.payloads import iso, user_payload

REPLY_PREVIEW_LENGTH = 200


def message_payload(
    message: ChatMessage,
    author: User | None,
    *,
    reactions: list[dict[str, Any]] | None = None,
    reply: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload `types.ChatMessage.from_payload` reads.

    A tombstone (deleted or hidden) carries no body, reactions or reply, so `message` and
    `author` are all it needs. For a visible message pass its `reactions` (see
    `history.reaction_payloads`) and `reply` (`reply_preview`), or use `history.payloads_for`.
    """
    tombstone = message.is_tombstone
    return {
        "id": str(message.id),
        "partyId": str(message.party_id),
        "seq": message.seq,
        "author": None if author is None else user_payload(author),
        "body": None if tombstone else message.body,
        "replyTo": None if tombstone else reply,
        "createdAt": iso(message.created_at),
        "editedAt": iso(message.edited_at),
        "deleted": message.deleted_at is not None,
        "hidden": message.hidden_at is not None,
        "clientId": message.client_id,
        "reactions": [] if tombstone else (reactions or []),
    }


def reply_preview(message: ChatMessage, author: User | None) -> dict[str, Any]:
    """What a reply shows of the message it answers: its body cut to 200 characters."""
    payload = message_payload(message, author)
    body = payload["body"]
    if body is not None and len(body) > REPLY_PREVIEW_LENGTH:
        payload["body"] = body[: REPLY_PREVIEW_LENGTH - 1] + "…"
    return payload


async def full_payload(session: AsyncSession, message: ChatMessage) -> dict[str, Any]:
    from watchparty.chat.history import payloads_for

    (payload,) = await payloads_for(session, [message])
    return payload
