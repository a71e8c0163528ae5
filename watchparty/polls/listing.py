"""`Party.polls`: newest first, keyset-paginated, for whoever may follow the party stream.

Readers: whoever may follow the party stream, where every `PollChanged` goes
(`parties.authz.may_read_content`, checked by the `Party.polls` field). Anyone else reading a
visible party gets null. A status filter uses the same rule as `Poll.status` (closed by hand,
or past `closesAt`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, not_, or_, select

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.models import User
from watchparty.context import Info
from watchparty.gql.pagination import page_info, paging_errors
from watchparty.kit.pagination import decode_time_cursor, page_size, time_cursor
from watchparty.kit.time import utcnow
from watchparty.polls.models import Poll, PollOption
from watchparty.polls.payloads import poll_payload

if TYPE_CHECKING:
    from watchparty.polls.types import PollConnection, PollStatus


def _closed() -> Any:
    return or_(
        Poll.closed_at.is_not(None),
        and_(Poll.closes_at.is_not(None), Poll.closes_at <= utcnow()),
    )


async def polls_for_party(
    info: Info,
    party_id: uuid.UUID,
    first: int | None,
    after: str | None,
    status: PollStatus | None,
) -> PollConnection:
    """`Party.polls` (the caller has checked that the viewer may read the party's content)."""
    from watchparty.polls.types import Poll as PollType
    from watchparty.polls.types import PollConnection, PollEdge, PollStatus

    with paging_errors(info):
        limit = page_size(first)
        key = decode_time_cursor(after)
    conditions: list[Any] = [Poll.party_id == party_id]
    if status is PollStatus.CLOSED:
        conditions.append(_closed())
    elif status is PollStatus.OPEN:
        conditions.append(not_(_closed()))
    query = select(Poll).where(*conditions)
    if key is not None:
        created_at, poll_id = key
        query = query.where(
            or_(
                Poll.created_at < created_at,
                and_(Poll.created_at == created_at, Poll.id < poll_id),
            )
        )
    query = query.order_by(Poll.created_at.desc(), Poll.id.desc()).limit(limit + 1)
    async with info.context.state.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Poll).where(*conditions))
        polls = list(await session.scalars(query))
        has_next = len(polls) > limit
        polls = polls[:limit]
        options: dict[uuid.UUID, list[PollOption]] = {poll.id: [] for poll in polls}
        if polls:
            rows = await session.scalars(
                select(PollOption)
                .where(PollOption.poll_id.in_(list(options)))
                .order_by(PollOption.poll_id, PollOption.position)
            )
            for option in rows:
                options[option.poll_id].append(option)
    creator_ids = sorted({p.created_by_id for p in polls if p.created_by_id is not None})
    loaded = (
        await user_loader_of(info.context.loaders).load_many(creator_ids) if creator_ids else []
    )
    creators: dict[uuid.UUID, User] = {u.id: u for u in loaded if u is not None}
    edges = [
        PollEdge(
            cursor=time_cursor(poll.created_at, poll.id),
            node=PollType.from_payload(
                poll_payload(
                    poll,
                    options[poll.id],
                    None if poll.created_by_id is None else creators.get(poll.created_by_id),
                )
            ),
        )
        for poll in polls
    ]
    return PollConnection(
        edges=edges,
        page_info=page_info(
            [edge.cursor for edge in edges], has_next=has_next, has_previous=key is not None
        ),
        total_count=int(total or 0),
    )
