"""Pure, JSON-safe dict builders for what the party stream carries.

Stored events embed these so that every subscriber can render an event without reading the
database. Keys are the GraphQL field names; `parties.types` turns them back into GraphQL objects
(`Party.from_payload`, `PartyMember.from_payload`, `user_from_payload`).

`user_payload` carries `bio` and `createdAt` besides the contract's id/displayName/avatarUrl, so
that a payload can render the full public `User` type; private fields (email...) render null.

The timeline and the queue (`playback_payload`, `queue_payload`) are built here too, from ORM rows,
so that the playback services store them without importing their GraphQL types
(`parties.playback_types` renders them back with `from_payload`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from watchparty.accounts.models import User
from watchparty.kit.time import epoch_ms
from watchparty.parties.models import Party, PartyMember, QueueItem
from watchparty.parties.timeline import PlaybackState


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "displayName": user.display_name,
        "avatarUrl": user.avatar_url,
        "bio": user.bio,
        "createdAt": iso(user.created_at),
    }


def finite_or_none(value: float | None) -> float | None:
    """Rows written before inputs were bounded may hold an infinite drift: JSON has no Infinity,
    and GraphQL's Float cannot serialise it, so it reads as unknown."""
    return value if value is not None and math.isfinite(value) else None


def member_payload(member: PartyMember, user: User, online: bool) -> dict[str, Any]:
    return {
        "user": user_payload(user),
        "role": member.role.value,
        "status": member.status.value,
        "joinedAt": iso(member.joined_at),
        "online": online,
        "lastDriftMs": finite_or_none(member.last_drift_ms),
    }


def settings_payload(party: Party) -> dict[str, Any]:
    return {
        "maxMembers": party.max_members,
        "requireApproval": party.require_approval,
        "controlPolicy": party.control_policy.value,
        "chatEnabled": party.chat_enabled,
        "reactionsEnabled": party.reactions_enabled,
        "waitForBuffering": party.wait_for_buffering,
        "bufferingTimeoutSeconds": party.buffering_timeout_seconds,
        "slowModeSeconds": party.slow_mode_seconds,
        "pollPolicy": party.poll_policy.value,
        "maxScreenShares": party.max_screen_shares,
    }


def party_payload(party: Party, host: User | None = None) -> dict[str, Any]:
    """With `host` given, the payload also carries `host` (a user payload) so that rendering
    `Party.host` needs no database read."""
    payload: dict[str, Any] = {
        "id": str(party.id),
        "title": party.title,
        "description": party.description,
        "code": party.code,
        "visibility": party.visibility.value,
        "status": party.status.value,
        "hostId": str(party.host_id),
        "settings": settings_payload(party),
        "scheduledStart": iso(party.scheduled_start),
        "startedAt": iso(party.started_at),
        "endedAt": iso(party.ended_at),
        "createdAt": iso(party.created_at),
    }
    if host is not None:
        payload["host"] = user_payload(host)
    return payload


# -- the timeline and the queue ----------------------------------------------------------------


def _users_payload(
    ids: Iterable[str | uuid.UUID], users: dict[uuid.UUID, User]
) -> list[dict[str, Any]]:
    found = []
    for raw in ids:
        user = users.get(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        if user is not None:  # a deleted account drops out of the list
            found.append(user_payload(user))
    return found


def queue_item_payload(item: QueueItem) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "position": item.position,
        "title": item.title,
        "url": item.url,
        "videoId": None if item.video_id is None else str(item.video_id),
        "durationSeconds": item.duration_seconds,
        "addedBy": None if item.added_by_id is None else str(item.added_by_id),
    }


def lagging_ids(party: Party) -> list[str]:
    """Members still buffering when the last wait timed out (kept until the next change).

    The `waiting_for` column holds them while the state is not WAITING (see `timeline_of`, which
    ignores the column outside WAITING); any later timeline update clears it.
    """
    if party.playback_state is PlaybackState.WAITING:
        return []
    return list(party.waiting_for or [])


def playback_user_ids(party: Party) -> set[uuid.UUID]:
    """Every user `playback_payload` needs in `users`."""
    ids = {uuid.UUID(u) for u in party.waiting_for or []}
    if party.playback_updated_by_id is not None:
        ids.add(party.playback_updated_by_id)
    return ids


def playback_payload(
    party: Party,
    item: QueueItem | None,
    users: dict[uuid.UUID, User],
    now_ms: float | None = None,
) -> dict[str, Any]:
    """The party's timeline as stored in `PlaybackChanged` events and snapshots.

    `item` is the current queue item (None when IDLE); `users` holds at least
    `playback_user_ids(party)`. `previous` (the segment a change anchored in the future replaces)
    is carried only while the anchor is after `now_ms` (the server clock when None).
    """
    now = epoch_ms() if now_ms is None else now_ms
    previous = party.playback_previous if party.anchor_ms > now else None
    waiting = party.playback_state is PlaybackState.WAITING
    updated_by = (
        users.get(party.playback_updated_by_id)
        if party.playback_updated_by_id is not None
        else None
    )
    return {
        "state": str(party.playback_state),
        "itemId": None if item is None else str(item.id),
        "item": None if item is None else queue_item_payload(item),
        "positionSeconds": party.position_seconds,
        "anchorServerTimeMs": party.anchor_ms,
        "rate": party.rate,
        "revision": party.revision,
        "waitingFor": _users_payload(party.waiting_for or [], users) if waiting else [],
        "waitDeadlineMs": party.wait_deadline_ms if waiting else None,
        "lagging": _users_payload(lagging_ids(party), users),
        "updatedBy": None if updated_by is None else user_payload(updated_by),
        "previous": dict(previous) if previous else None,
    }


def queue_payload(items: Sequence[QueueItem]) -> list[dict[str, Any]]:
    return [queue_item_payload(item) for item in items]
