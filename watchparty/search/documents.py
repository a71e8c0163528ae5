"""What each indexed row becomes in Typesense, read from the database's current state (the
outbox names rows; the indexer always reads what is committed now).

A row that must not be found (a deleted or UNLISTED party, a deleted or unfinished video, a user
who opted out or was deactivated) has no document: `documents` returns its id under `gone`,
and the indexer deletes it from the index.

Visibility is two fields every document has: `visibility` (PUBLIC, PRIVATE) and `viewer_ids`
(who may see it when it is not PUBLIC: a private party's active members, a video's owner).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.parties.models import MemberStatus, Party, PartyMember, PartyVisibility
from watchparty.parties.presence import get_presence
from watchparty.search.models import Entity
from watchparty.videos.models import Video, VideoStatus, VideoVisibility

if TYPE_CHECKING:
    from watchparty.state import AppState

NAMED_ROWS_MAX = 200  # a renamed user's parties and videos reindexed with them (the rest: sweep)
MAX_VIEWER_IDS = 1000  # members of a private party listed in its document (parties are smaller)

DURATION_RANGES = (  # (name, upper bound in seconds)
    ("SHORT", 5 * 60),
    ("MEDIUM", 20 * 60),
    ("LONG", 60 * 60),
    ("FEATURE", None),
)


def duration_range(seconds: float | None) -> str:
    if seconds is None:
        return "UNKNOWN"
    for name, upper in DURATION_RANGES:
        if upper is None or seconds < upper:
            return name
    return "FEATURE"


def epoch(at: datetime | None) -> int:
    return 0 if at is None else int(at.timestamp())


def epoch_ms(at: datetime) -> int:
    """Creation times sort in milliseconds (rows made within one second keep their order)."""
    return int(at.timestamp() * 1000)


@dataclass
class Batch:
    upserts: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"parties": [], "videos": [], "users": []}
    )
    gone: dict[str, list[str]] = field(
        default_factory=lambda: {"parties": [], "videos": [], "users": []}
    )
    # users whose row is gone (deleted accounts): their videos and parties leave the index too
    deleted_users: list[str] = field(default_factory=list)


async def online_counts(
    state: AppState | None, party_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Users holding each party's stream (advisory: zero while presence is unavailable)."""
    ids = list(party_ids)
    if state is None or not ids:
        return {}
    try:
        return await get_presence(state).online_counts(ids)
    except Exception:  # presence is advisory; the sweep refreshes counts later
        return {}


async def party_documents(
    session: AsyncSession, state: AppState | None, ids: list[uuid.UUID], batch: Batch
) -> None:
    rows = (
        await session.execute(
            select(Party, User.display_name)
            .join(User, User.id == Party.host_id)
            .where(Party.id.in_(ids))
        )
    ).all()
    found = {party.id for party, _ in rows}
    batch.gone["parties"].extend(str(i) for i in ids if i not in found)
    live = [
        p for p, _ in rows if p.deleted_at is None and p.visibility is not PartyVisibility.UNLISTED
    ]
    members: dict[uuid.UUID, list[uuid.UUID]] = {p.id: [] for p in live}
    if live:
        member_rows = await session.execute(
            select(PartyMember.party_id, PartyMember.user_id).where(
                PartyMember.party_id.in_(list(members)),
                PartyMember.status == MemberStatus.ACTIVE,
            )
        )
        for party_id, user_id in member_rows:
            members[party_id].append(user_id)
    online = await online_counts(state, [p.id for p in live])
    if state is not None:  # what the coalesced refresh compares with (indexing.py)
        sent: dict[uuid.UUID, int] = state.extras.setdefault("search_online_sent", {})
        sent.update({p.id: online.get(p.id, 0) for p in live})
    for party, host_name in rows:
        if party.deleted_at is not None or party.visibility is PartyVisibility.UNLISTED:
            batch.gone["parties"].append(str(party.id))
            continue
        ids_of_members = members[party.id]
        batch.upserts["parties"].append(
            {
                "id": str(party.id),
                "type": Entity.PARTY.value,
                "title": party.title,
                "description": party.description or "",
                "host_name": host_name,
                "host_id": str(party.host_id),
                "status": party.status.value,
                "visibility": party.visibility.value,
                "viewer_ids": (
                    []
                    if party.visibility is PartyVisibility.PUBLIC
                    else [str(u) for u in ids_of_members[:MAX_VIEWER_IDS]]
                ),
                "member_count": len(ids_of_members),
                "online_count": online.get(party.id, 0),
                "scheduled_start": epoch(party.scheduled_start),
                "created_at": epoch_ms(party.created_at),
            }
        )


async def video_documents(session: AsyncSession, ids: list[uuid.UUID], batch: Batch) -> None:
    rows = (
        await session.execute(
            select(Video, User.display_name)
            .join(User, User.id == Video.owner_id)
            .where(Video.id.in_(ids))
        )
    ).all()
    found = {video.id for video, _ in rows}
    batch.gone["videos"].extend(str(i) for i in ids if i not in found)
    for video, owner_name in rows:
        if video.deleted_at is not None or video.status is not VideoStatus.READY:
            batch.gone["videos"].append(str(video.id))
            continue
        # UNLISTED videos are found by their owner only, like PRIVATE ones
        public = video.visibility is VideoVisibility.PUBLIC
        batch.upserts["videos"].append(
            {
                "id": str(video.id),
                "type": Entity.VIDEO.value,
                "title": video.title,
                "description": video.description or "",
                "owner_name": owner_name,
                "owner_id": str(video.owner_id),
                "duration_seconds": float(video.duration_seconds or 0.0),
                "duration_range": duration_range(video.duration_seconds),
                "provider": video.provider.value,
                "visibility": "PUBLIC" if public else "PRIVATE",
                "viewer_ids": [str(video.owner_id)],
                "created_at": epoch_ms(video.created_at),
            }
        )


async def user_documents(session: AsyncSession, ids: list[uuid.UUID], batch: Batch) -> None:
    rows = list(await session.scalars(select(User).where(User.id.in_(ids))))
    found = {user.id for user in rows}
    batch.gone["users"].extend(str(i) for i in ids if i not in found)
    batch.deleted_users.extend(str(i) for i in ids if i not in found)
    for user in rows:
        if not user.searchable or not user.is_active:
            batch.gone["users"].append(str(user.id))
            continue
        batch.upserts["users"].append(
            {
                "id": str(user.id),
                "type": Entity.USER.value,
                "display_name": user.display_name,
                "visibility": "PUBLIC",
                "viewer_ids": [],
                "created_at": epoch_ms(user.created_at),
            }
        )


async def build(
    session: AsyncSession, state: AppState | None, entities: dict[Entity, set[uuid.UUID]]
) -> Batch:
    batch = Batch()
    if entities.get(Entity.USER):  # a new display name shows on their parties and videos too
        users = sorted(entities[Entity.USER])
        hosted = await session.scalars(
            select(Party.id)
            .where(Party.host_id.in_(users), Party.deleted_at.is_(None))
            .limit(NAMED_ROWS_MAX)
        )
        owned = await session.scalars(
            select(Video.id)
            .where(Video.owner_id.in_(users), Video.deleted_at.is_(None))
            .limit(NAMED_ROWS_MAX)
        )
        entities = {
            **entities,
            Entity.PARTY: set(entities.get(Entity.PARTY, set())) | set(hosted),
            Entity.VIDEO: set(entities.get(Entity.VIDEO, set())) | set(owned),
        }
    if entities.get(Entity.PARTY):
        await party_documents(session, state, sorted(entities[Entity.PARTY]), batch)
    if entities.get(Entity.VIDEO):
        await video_documents(session, sorted(entities[Entity.VIDEO]), batch)
    if entities.get(Entity.USER):
        await user_documents(session, sorted(entities[Entity.USER]), batch)
    return batch


async def count_rows(session: AsyncSession) -> dict[str, int]:
    """Rows that should have a document (status)."""
    parties = await session.scalar(
        select(func.count())
        .select_from(Party)
        .where(Party.deleted_at.is_(None), Party.visibility != PartyVisibility.UNLISTED)
    )
    videos = await session.scalar(
        select(func.count())
        .select_from(Video)
        .where(Video.deleted_at.is_(None), Video.status == VideoStatus.READY)
    )
    users = await session.scalar(
        select(func.count()).select_from(User).where(User.searchable, User.is_active)
    )
    return {"parties": int(parties or 0), "videos": int(videos or 0), "users": int(users or 0)}
