"""Who chose what: the loaders behind `Poll.myOptionIds` (each batch has its own session).

- `my_choices_loader`: (poll id, user id) -> option ids, for queries and mutations (one viewer).
- `poll_choices_loader`: poll id -> {user id: option ids}, for a `PollChanged` event executed by
  many subscribers (through `gql.shared.event_loader`): one read per event and process whatever
  the number of subscribers and however their executions interleave. A poll has at most one
  ballot per member, so the read is bounded by the party's size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, tuple_
from strawberry.dataloader import DataLoader

from watchparty.polls.models import PollBallot

if TYPE_CHECKING:
    from watchparty.state import AppState

ChoiceKey = tuple[uuid.UUID, uuid.UUID]  # (poll id, user id)


def my_choices_loader(state: AppState) -> DataLoader[ChoiceKey, list[str]]:
    async def load(keys: Sequence[ChoiceKey]) -> list[list[str]]:
        async with state.sessionmaker() as session:
            rows = await session.execute(
                select(PollBallot.poll_id, PollBallot.user_id, PollBallot.option_ids).where(
                    tuple_(PollBallot.poll_id, PollBallot.user_id).in_(list(keys))
                )
            )
            found = {(poll_id, user_id): list(ids) for poll_id, user_id, ids in rows.all()}
        return [found.get(key, []) for key in keys]

    return DataLoader(load_fn=load)


def poll_choices_loader(state: AppState) -> DataLoader[uuid.UUID, dict[str, list[str]]]:
    async def load(poll_ids: Sequence[uuid.UUID]) -> list[dict[str, list[str]]]:
        async with state.sessionmaker() as session:
            rows = await session.execute(
                select(PollBallot.poll_id, PollBallot.user_id, PollBallot.option_ids).where(
                    PollBallot.poll_id.in_(list(poll_ids)), PollBallot.user_id.is_not(None)
                )
            )
            found: dict[uuid.UUID, dict[str, list[str]]] = {pid: {} for pid in poll_ids}
            for poll_id, user_id, ids in rows.all():
                found[poll_id][str(user_id)] = list(ids)
        return [found[pid] for pid in poll_ids]

    return DataLoader(load_fn=load)
