"""Loaders of the chat types. `my_reactions` answers `reactedByMe` when a reaction has more
reactors than its payload carries (see `history.REACTORS_CAP`): batched over every message and
subscriber executing the same event (`gql.shared.event_loader`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, tuple_
from strawberry.dataloader import DataLoader

from watchparty.chat.models import MessageReaction

if TYPE_CHECKING:
    from watchparty.state import AppState

ReactionKey = tuple[uuid.UUID, uuid.UUID, str]  # (message id, user id, emoji)
MY_REACTIONS = "chat.my_reactions"


def my_reactions_loader(state: AppState) -> DataLoader[ReactionKey, bool]:
    async def load(keys: Sequence[ReactionKey]) -> list[bool]:
        r = MessageReaction
        async with state.sessionmaker() as session:
            rows = await session.execute(
                select(r.message_id, r.user_id, r.emoji).where(
                    tuple_(r.message_id, r.user_id, r.emoji).in_(list(keys))
                )
            )
            found = {(m, u, e) for m, u, e in rows.all()}
        return [key in found for key in keys]

    return DataLoader(load_fn=load)
