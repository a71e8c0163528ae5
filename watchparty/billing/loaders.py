"""The operation's DataLoader of effective plans: one query for every user an operation asks
about (`me.entitlements`, each video URL's gating), each with its own short session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from watchparty.billing.entitlements import Effective, effective_many
from watchparty.kit.time import utcnow

if TYPE_CHECKING:
    from watchparty.context import Info
    from watchparty.state import AppState


def effective_loader(state: AppState) -> DataLoader[uuid.UUID, Effective]:
    async def load(user_ids: Sequence[uuid.UUID]) -> list[Effective]:
        async with state.sessionmaker() as session:
            found = await effective_many(session, user_ids, state.settings, utcnow())
        return [found[user_id] for user_id in user_ids]

    return DataLoader(load_fn=load)


async def effective_of(info: Info, user_id: uuid.UUID) -> Effective:
    """`user_id`'s effective plan now (once per operation)."""
    loader = info.context.loaders.get("billing.effective", effective_loader)
    return await loader.load(user_id)
