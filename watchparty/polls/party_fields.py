"""Polls' field of `Party`, contributed by the composition root (`schema.py`, `gql.extend`)."""

from __future__ import annotations

import strawberry

from watchparty.context import Info
from watchparty.parties.types import Party, viewer_may_read
from watchparty.polls.listing import polls_for_party
from watchparty.polls.types import PollConnection, PollStatus


@strawberry.type
class PollPartyFields:
    @strawberry.field(
        description="Polls, newest first (page size at most 100); null unless the viewer is a "
        "member, or signed in on a PUBLIC party. `status` keeps OPEN or CLOSED ones."
    )
    @staticmethod
    async def polls(
        root: Party,
        info: Info,
        first: int | None = 10,
        after: str | None = None,
        status: PollStatus | None = None,
    ) -> PollConnection | None:
        if not await viewer_may_read(info, root):
            return None
        return await polls_for_party(info, root.party_id, first, after, status)
