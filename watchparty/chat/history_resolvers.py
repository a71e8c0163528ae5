"""The GraphQL side of chat history: `Party.messages` as a Relay connection over
`chat.history.history_page` (who may read it is `parties.authz.may_read_content`)."""

from __future__ import annotations

import uuid

from watchparty.chat.history import history_page
from watchparty.chat.types import ChatMessage as ChatMessageType
from watchparty.chat.types import ChatMessageConnection, ChatMessageEdge
from watchparty.context import Info
from watchparty.gql.pagination import page_info


async def messages_connection(
    info: Info, party_id: uuid.UUID, last: int | None, before: str | None
) -> ChatMessageConnection:
    """`Party.messages` (the caller checked `parties.authz.may_read_content`). Its own short
    session."""
    async with info.context.state.sessionmaker() as session:
        page = await history_page(session, party_id, last, before)
    edges = [
        ChatMessageEdge(cursor=str(p["seq"]), node=ChatMessageType.from_payload(p))
        for p in page.payloads
    ]
    return ChatMessageConnection(
        edges=edges,
        page_info=page_info(
            [edge.cursor for edge in edges], has_next=page.has_newer, has_previous=page.has_older
        ),
    )
