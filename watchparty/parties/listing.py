"""Read-side helpers behind `Party` fields and the party lists (keyset-paginated connections).

Each opens its own short session: sibling fields resolve concurrently and must not share one.
Orders are total (a timestamp, then the id) so cursors are stable:
- members: longest-standing first (joined_at, id);
- myParties / publicParties: newest first (created_at desc, id desc).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.models import User
from watchparty.context import Info
from watchparty.gql.pagination import page_info
from watchparty.kit.pagination import decode_time_cursor, page_size, time_cursor
from watchparty.kit.time import utcnow
from watchparty.parties.member_types import PartyMember as PartyMemberType
from watchparty.parties.member_types import PartyMemberConnection, PartyMemberEdge
from watchparty.parties.models import (
    InviteLink,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
)

if TYPE_CHECKING:
    from watchparty.parties.types import PartyConnection
    from watchparty.state import AppState

MAX_JOIN_REQUESTS = 100
MAX_INVITE_LINKS = 100


async def online_user_ids(state: AppState, party_id: uuid.UUID) -> set[uuid.UUID]:
    """Users holding the party stream now (members and, for PUBLIC parties, viewers)."""
    from watchparty.parties.presence import get_presence

    return await get_presence(state).online_user_ids(party_id)


async def online_member_count(state: AppState, party_id: uuid.UUID) -> int:
    """Active members online (presence also counts non-member viewers of PUBLIC parties)."""
    online = await online_user_ids(state, party_id)
    if not online:
        return 0
    async with state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(
                PartyMember.party_id == party_id,
                PartyMember.status == MemberStatus.ACTIVE,
                PartyMember.user_id.in_(online),
            )
        )
    return int(count or 0)


async def member_with_user(info: Info, row: PartyMember) -> PartyMemberType | None:
    user = await user_loader_of(info.context.loaders).load(row.user_id)
    if user is None:
        return None
    online = row.user_id in await online_user_ids(info.context.state, row.party_id)
    return PartyMemberType.from_model(row, user, online)


async def members_connection(
    info: Info,
    party_id: uuid.UUID,
    first: int | None,
    after: str | None,
    online: bool | None,
) -> PartyMemberConnection:
    limit = page_size(first)
    key = decode_time_cursor(after)
    online_ids = await online_user_ids(info.context.state, party_id)
    conditions: list[Any] = [
        PartyMember.party_id == party_id,
        PartyMember.status == MemberStatus.ACTIVE,
    ]
    if online is True:
        conditions.append(PartyMember.user_id.in_(online_ids))
    elif online is False and online_ids:
        conditions.append(PartyMember.user_id.not_in(online_ids))
    query = (
        select(PartyMember, User)
        .join(User, User.id == PartyMember.user_id)
        .where(*conditions)
        .order_by(PartyMember.joined_at, PartyMember.id)
    )
    if key is not None:
        joined_at, member_id = key
        query = query.where(
            or_(
                PartyMember.joined_at > joined_at,
                and_(PartyMember.joined_at == joined_at, PartyMember.id > member_id),
            )
        )
    async with info.context.state.sessionmaker() as session:
        total = await session.scalar(
            select(func.count()).select_from(PartyMember).where(*conditions)
        )
        rows = list((await session.execute(query.limit(limit + 1))).all())
    has_next = len(rows) > limit
    edges = [
        PartyMemberEdge(
            cursor=time_cursor(member.joined_at, member.id),
            node=PartyMemberType.from_model(member, user, member.user_id in online_ids),
        )
        for member, user in rows[:limit]
    ]
    return PartyMemberConnection(
        edges=edges,
        page_info=page_info(
            [e.cursor for e in edges], has_next=has_next, has_previous=key is not None
        ),
        total_count=int(total or 0),
    )


async def join_requests(info: Info, party_id: uuid.UUID) -> list[PartyMemberType]:
    query = (
        select(PartyMember, User)
        .join(User, User.id == PartyMember.user_id)
        .where(PartyMember.party_id == party_id, PartyMember.status == MemberStatus.PENDING)
        .order_by(PartyMember.joined_at, PartyMember.id)
        .limit(MAX_JOIN_REQUESTS)
    )
    async with info.context.state.sessionmaker() as session:
        rows = (await session.execute(query)).all()
        return [PartyMemberType.from_model(m, u, False) for m, u in rows]


async def invite_links(info: Info, party_id: uuid.UUID) -> Sequence[InviteLink]:
    """Links that still work: not revoked, not expired, not used up."""
    now = utcnow()
    query = (
        select(InviteLink)
        .where(
            InviteLink.party_id == party_id,
            InviteLink.revoked_at.is_(None),
            or_(InviteLink.expires_at.is_(None), InviteLink.expires_at > now),
            or_(InviteLink.max_uses.is_(None), InviteLink.uses < InviteLink.max_uses),
        )
        .order_by(InviteLink.created_at.desc(), InviteLink.id.desc())
        .limit(MAX_INVITE_LINKS)
    )
    async with info.context.state.sessionmaker() as session:
        return list(await session.scalars(query))


# -- party lists -------------------------------------------------------------------------------


def _newest_first(query: Select[Any], key: tuple[datetime, uuid.UUID] | None) -> Select[Any]:
    if key is not None:
        created_at, party_id = key
        query = query.where(
            or_(
                Party.created_at < created_at,
                and_(Party.created_at == created_at, Party.id < party_id),
            )
        )
    return query.order_by(Party.created_at.desc(), Party.id.desc())


async def _party_connection(
    session: AsyncSession, conditions: list[Any], first: int | None, after: str | None
) -> PartyConnection:
    from watchparty.parties.types import Party as PartyType
    from watchparty.parties.types import PartyConnection, PartyEdge

    limit = page_size(first)
    key = decode_time_cursor(after)
    total = await session.scalar(select(func.count()).select_from(Party).where(*conditions))
    query = _newest_first(select(Party).where(*conditions), key).limit(limit + 1)
    parties = list(await session.scalars(query))
    has_next = len(parties) > limit
    edges = [
        PartyEdge(
            cursor=time_cursor(p.created_at, p.id),
            node=PartyType.from_model(p),
        )
        for p in parties[:limit]
    ]
    return PartyConnection(
        edges=edges,
        page_info=page_info(
            [e.cursor for e in edges], has_next=has_next, has_previous=key is not None
        ),
        total_count=int(total or 0),
    )


async def my_parties(
    session: AsyncSession, viewer_id: uuid.UUID, first: int | None, after: str | None
) -> PartyConnection:
    """Parties the viewer is an active member of (ended ones included), newest first."""
    mine = (
        select(PartyMember.party_id)
        .where(PartyMember.user_id == viewer_id, PartyMember.status == MemberStatus.ACTIVE)
        .scalar_subquery()
    )
    conditions = [Party.deleted_at.is_(None), Party.id.in_(mine)]
    return await _party_connection(session, conditions, first, after)


async def public_parties(
    session: AsyncSession, status: PartyStatus | None, first: int | None, after: str | None
) -> PartyConnection:
    """PUBLIC parties, newest first; all statuses unless `status` is given."""
    conditions: list[Any] = [
        Party.deleted_at.is_(None),
        Party.visibility == PartyVisibility.PUBLIC,
    ]
    if status is not None:
        conditions.append(Party.status == status)
    return await _party_connection(session, conditions, first, after)
