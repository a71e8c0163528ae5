"""The GraphQL side of chat history: who may read a party's messages, and `Party.messages` as a
Relay connection over `chat.history.history_page`."""

from __future__ import annotations

import uuid

from watchparty.chat.history import history_page
from watchparty.chat.types import ChatMessage as ChatMessageType
from watchparty.chat.types import ChatMessageConnection, ChatMessageEdge
from watchparty.context import Info
from watchparty.gql.pagination import PageInfo
from watchparty.parties.authz import is_banned
from watchparty.parties.models import MemberStatus, PartyVisibility


async def may_read(info: Info, party_id: uuid.UUID, visibility: PartyVisibility) -> bool:
    """Who may read a party's messages: whoever may follow its stream (`can_view_stream`)."""
    viewer_id = info.context.viewer_id
    if viewer_id is None:
        return False
    row = await info.context.loaders.parties.membership.load((party_id, viewer_id))
    if row is not None and row.status is MemberStatus.ACTIVE:
        return True
    return visibility is PartyVisibility.PUBLIC and not is_banned(row)


async def messages_connection(
    info: Info, party_id: uuid.UUID, last: int | None, before: str | None
) -> ChatMessageConnection:
    """`Party.messages` (the caller checked `may_read`). Its own short session."""
    async with info.context.state.sessionmaker() as session:
        page = await history_page(session, party_id, last, before)
    edges = [
        ChatMessageEdge(cursor=str(p["seq"]), node=ChatMessageType.from_payload(p))
        for p in page.payloads
    ]
    return ChatMessageConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_newer,
            has_previous_page=page.has_older,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
