"""Query, Mutation and Subscription fields of this domain. Thin: unpack the input, call one
service function, map the result (see `parties.playback_resolvers`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.chat import service
from watchparty.chat.types import (
    ChatDisabled,
    ChatMessage,
    ChatMessagePayload,
    DeleteMessageInput,
    EditMessageInput,
    MessageReactionInput,
    Muted,
    SendMessageInput,
    SetTypingInput,
    SetTypingPayload,
    returns_chat_errors,
)
from watchparty.context import Info
from watchparty.gql.cache_hints import CONFIG_MAX_AGE, public_cache
from watchparty.gql.errors import (
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PartyEndedError,
    RateLimited,
    ValidationError,
)
from watchparty.kit.emoji import ALLOWED_EMOJI

# Writing a message's text (sending, editing) takes a member allowed to chat who is not muted.
_WrittenMessage = (
    ChatMessagePayload | NotAuthenticated | NotFound | NotAllowed | ChatDisabled | Muted
)
SendMessageResult = Annotated[
    _WrittenMessage | RateLimited | ValidationError | PartyEndedError,
    strawberry.union("SendMessageResult"),
]
EditMessageResult = Annotated[
    _WrittenMessage | ValidationError | PartyEndedError, strawberry.union("EditMessageResult")
]
DeleteMessageResult = Annotated[
    ChatMessagePayload | NotAuthenticated | NotFound | NotAllowed | ValidationError,
    strawberry.union("DeleteMessageResult"),
]
MessageReactionResult = Annotated[
    ChatMessagePayload
    | NotAuthenticated
    | NotFound
    | NotAllowed
    | ChatDisabled
    | RateLimited
    | ValidationError
    | PartyEndedError,
    strawberry.union("MessageReactionResult"),
]
SetTypingResult = Annotated[
    SetTypingPayload
    | NotAuthenticated
    | NotFound
    | NotAllowed
    | ChatDisabled
    | PartyEndedError
    | ValidationError,
    strawberry.union("SetTypingResult"),
]


@strawberry.type
class ChatQueries:
    @strawberry.field(
        description="The emoji accepted by reactToMessage and sendReaction.",
        metadata=public_cache(CONFIG_MAX_AGE),
    )
    def allowed_emoji(self) -> list[str]:
        return list(ALLOWED_EMOJI)


@strawberry.type
class ChatMutations:
    @strawberry.mutation(
        description="Send a chat message (ChatMessageAdded). A retry with the same clientId "
        "returns the message already sent."
    )
    @returns_chat_errors
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessageResult:
        viewer_id = await info.context.require_viewer_id()
        new = service.NewMessage(
            party_id=str(input.party_id),
            body=input.body,
            reply_to_id=None if input.reply_to_id is None else str(input.reply_to_id),
            client_id=input.client_id,
        )
        async with info.context.state.unit_of_work() as uow:
            payload = await service.send_message(uow, viewer_id, new)
        return ChatMessagePayload(message=ChatMessage.from_payload(payload))

    @strawberry.mutation(description="Change the text of one's own message (marks it edited).")
    @returns_chat_errors
    async def edit_message(self, info: Info, input: EditMessageInput) -> EditMessageResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            payload = await service.edit_message(uow, viewer.id, str(input.message_id), input.body)
        return ChatMessagePayload(message=ChatMessage.from_payload(payload))

    @strawberry.mutation(
        description="Delete a message (its author, or a moderator and above): it stays in "
        "history as a tombstone without its body. Returns the tombstone."
    )
    @returns_chat_errors
    async def delete_message(self, info: Info, input: DeleteMessageInput) -> DeleteMessageResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            payload = await service.delete_message(uow, viewer.id, str(input.message_id))
        return ChatMessagePayload(message=ChatMessage.from_payload(payload))

    @strawberry.mutation(description="React with an emoji (reacting twice counts once).")
    @returns_chat_errors
    async def react_to_message(
        self, info: Info, input: MessageReactionInput
    ) -> MessageReactionResult:
        return await _react(info, input, add=True)

    @strawberry.mutation(description="Take back one's reaction (a no-op when there is none).")
    @returns_chat_errors
    async def remove_message_reaction(
        self, info: Info, input: MessageReactionInput
    ) -> MessageReactionResult:
        return await _react(info, input, add=False)

    @strawberry.mutation(
        description="Tell the party the viewer is typing (TypingChanged, ephemeral). typing=true "
        "lasts 5 s unless renewed; renewals within 2 s are accepted but not re-broadcast."
    )
    @returns_chat_errors
    async def set_typing(self, info: Info, input: SetTypingInput) -> SetTypingResult:
        viewer = await info.context.require_viewer()
        async with info.context.state.unit_of_work() as uow:
            party_id = await service.set_typing(uow, viewer.id, str(input.party_id), input.typing)
        return SetTypingPayload(
            party_id=strawberry.ID(str(party_id)),
            typing=input.typing,
            expires_in_ms=service.TYPING_TTL_MS if input.typing else None,
        )


async def _react(info: Info, input: MessageReactionInput, *, add: bool) -> ChatMessagePayload:
    viewer = await info.context.require_viewer()
    async with info.context.state.unit_of_work() as uow:
        payload = await service.react(uow, viewer.id, str(input.message_id), input.emoji, add=add)
    return ChatMessagePayload(message=ChatMessage.from_payload(payload))
