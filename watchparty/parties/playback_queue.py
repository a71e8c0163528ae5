"""The party queue: add, remove, move. Controllers only (the party's control policy).

Queue edits are serialized per party by locking the party row first (a no-op row update: a row
lock on PostgreSQL, the write lock on SQLite), so positions stay a gapless 0..n-1 even when two
processes edit at once. Every edit records `QueueChanged` with the whole queue (at most
`QUEUE_MAX_ITEMS`, so the event stays small). Edits that move the playhead (adding to an idle
party loads the item paused; removing the current item moves on to the next one, or clears the
timeline when none is left) go through `playback.transition` like any control.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import NotFound, ValidationProblem
from watchparty.events import record
from watchparty.parties.authz import PARTY_NOT_FOUND, parse_id
from watchparty.parties.events import QueueChanged, party_channel
from watchparty.parties.models import QUEUE_MAX_ITEMS, Party, QueueItem
from watchparty.parties.payloads import queue_payload
from watchparty.parties.playback import (
    ITEM_NOT_FOUND,
    Snapshot,
    current_payload,
    find_item,
    load_controllable,
    load_item,
    load_queue,
    transition,
)
from watchparty.parties.service import Media
from watchparty.parties.timeline import PlaybackState, Timeline
from watchparty.parties.validation import check_media_for

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


@dataclass
class QueueResult:
    queue: list[dict[str, Any]]
    playback: dict[str, Any]


async def _lock_controllable(session: AsyncSession, party_id: str, viewer_id: uuid.UUID) -> Party:
    """Lock the party row, then load the party when the viewer may edit its queue: every edit
    starts so, in this order."""
    pid = parse_id(party_id)
    if pid is None:
        raise NotFound(PARTY_NOT_FOUND)
    await session.execute(
        update(Party)
        .where(Party.id == pid)
        .values(updated_at=Party.updated_at)
        .execution_options(synchronize_session=False)
    )
    return (await load_controllable(session, party_id, viewer_id)).party


def _queued(queue: list[QueueItem], item_id: str) -> QueueItem:
    """The item `item_id` of the queue; NotFound on `itemId` when it is not in it."""
    item = find_item(queue, parse_id(item_id))
    if item is None:
        raise NotFound(ITEM_NOT_FOUND, field="itemId")
    return item


def _renumber(queue: list[QueueItem]) -> None:
    for index, item in enumerate(queue):
        if item.position != index:
            item.position = index


async def _finish(uow: UnitOfWork, party: Party, queue: list[QueueItem]) -> QueueResult:
    items = queue_payload(queue)
    await record(uow, party_channel(party.id), QueueChanged(queue=items))
    playback = await current_payload(uow.session, Snapshot(party, queue))
    return QueueResult(queue=items, playback=playback)


async def add_to_queue(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    media: Media,
    position: int | None,
) -> QueueResult:
    session = uow.session
    party = await _lock_controllable(session, party_id, viewer_id)
    clean = await check_media_for(session, viewer_id, media)
    if position is not None and position < 0:
        raise ValidationProblem("The position must be 0 or more.", field="position")
    queue = await load_queue(session, party.id)
    if len(queue) >= QUEUE_MAX_ITEMS:
        raise ValidationProblem(f"The queue is full ({QUEUE_MAX_ITEMS} items at most).")
    item = QueueItem(
        id=uuid.uuid4(),
        party_id=party.id,
        position=len(queue),
        url=clean.url,
        video_id=None if clean.video_id is None else uuid.UUID(clean.video_id),
        title=clean.title,
        duration_seconds=clean.duration_seconds,
        added_by_id=viewer_id,
    )
    session.add(item)
    queue.insert(len(queue) if position is None else min(position, len(queue)), item)
    _renumber(queue)
    await session.flush()
    result = await _finish(uow, party, queue)
    if party.playback_state is PlaybackState.IDLE:

        def load_paused(snap: Snapshot, now: float, lead: float) -> Timeline:
            return load_item(snap, item, now, lead, autoplay=False)

        snap = await transition(uow, party, load_paused, expected=None, actor_id=viewer_id)
        result.playback = await current_payload(session, snap)
    return result


async def remove_from_queue(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, item_id: str
) -> QueueResult:
    session = uow.session
    party = await _lock_controllable(session, party_id, viewer_id)
    queue = await load_queue(session, party.id)
    item = _queued(queue, item_id)
    index = queue.index(item)
    queue.remove(item)
    await session.delete(item)
    _renumber(queue)
    await session.flush()
    result = await _finish(uow, party, queue)
    if party.current_item_id == item.id:
        following = queue[index] if index < len(queue) else None

        def move_on(snap: Snapshot, now: float, lead: float) -> Timeline:
            # The removed item is gone from `snap.queue`: the timeline starts from IDLE values.
            old = snap.timeline
            if following is None:
                return old.clear(now)
            playing = old.state in (PlaybackState.PLAYING, PlaybackState.WAITING)
            return load_item(snap, following, now, lead, autoplay=playing)

        snap = await transition(uow, party, move_on, expected=None, actor_id=viewer_id)
        result.playback = await current_payload(session, snap)
    return result


async def move_queue_item(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, item_id: str, position: int
) -> QueueResult:
    session = uow.session
    party = await _lock_controllable(session, party_id, viewer_id)
    queue = await load_queue(session, party.id)
    item = _queued(queue, item_id)
    if position < 0:
        raise ValidationProblem("The position must be 0 or more.", field="position")
    target = min(position, len(queue) - 1)
    if queue.index(item) == target:
        playback = await current_payload(session, Snapshot(party, queue))
        return QueueResult(queue=queue_payload(queue), playback=playback)
    queue.remove(item)
    queue.insert(target, item)
    _renumber(queue)
    await session.flush()
    return await _finish(uow, party, queue)
