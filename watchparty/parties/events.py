"""The party's own events on its stream (`party:<id>`), and what they say about a member.

Nested values are the JSON dicts of `parties.payloads` (`playback_payload`, `member_payload`,
`party_payload`...), which declare their shapes. Other domains declare their events in their own
`events.py` and record them on `party_channel` too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, channel_of, publish, register
from watchparty.realtime import Hub

REVOKE_REASONS = frozenset({"KICKED", "BANNED", "PARTY_DELETED"})


def party_channel(party_id: uuid.UUID | str) -> str:
    return channel_of("party", party_id)


@register("party.playback_changed", legacy="PlaybackChanged")
@dataclass(frozen=True, slots=True)
class PlaybackChanged(Event):
    playback: dict[str, Any]


@register("party.queue_changed", legacy="QueueChanged")
@dataclass(frozen=True, slots=True)
class QueueChanged(Event):
    queue: list[dict[str, Any]]


@register("party.member_joined", legacy="MemberJoined")
@dataclass(frozen=True, slots=True)
class MemberJoined(Event):
    member: dict[str, Any]


@register("party.member_updated", legacy="MemberUpdated")
@dataclass(frozen=True, slots=True)
class MemberUpdated(Event):
    member: dict[str, Any]


@register("party.member_left", legacy="MemberLeft")
@dataclass(frozen=True, slots=True)
class MemberLeft(Event):
    user_id: str


@register("party.updated", legacy="PartyUpdated")
@dataclass(frozen=True, slots=True)
class PartyUpdated(Event):
    party: dict[str, Any]


@register("party.ended", legacy="PartyEnded")
@dataclass(frozen=True, slots=True)
class PartyEnded(Event):
    pass


@register("party.membership_revoked", legacy="MembershipRevoked")
@dataclass(frozen=True, slots=True)
class MembershipRevoked(Event):
    """Ends the streams of `user_id`; without one, every stream of the party (deleted)."""

    reason: str
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REVOKE_REASONS:
            raise ValueError(f"MembershipRevoked needs a reason in {sorted(REVOKE_REASONS)}")


@register("party.presence_changed", stored=False, legacy="PresenceChanged")
@dataclass(frozen=True, slots=True)
class PresenceChanged(Event):
    """Who came online and who went offline since the party's last presence event (coalesced:
    `presence.batcher`), and how many are online now. `counts_only`: the party had more online
    than PRESENCE_LIST_LIMIT, the lists are empty."""

    came_online: list[str]
    went_offline: list[str]
    online_count: int
    counts_only: bool


async def publish_presence(
    hub: Hub,
    party_id: uuid.UUID,
    came_online: list[str],
    went_offline: list[str],
    online_count: int,
    counts_only: bool,
) -> bool:
    """Fan out `PresenceChanged` (not stored: no cursor, no replay). Best effort."""
    event = PresenceChanged(came_online, went_offline, online_count, counts_only)
    return await publish(hub, party_channel(party_id), event)


def membership_news(event: Event | None, user_id: uuid.UUID | None) -> bool | None:
    """What an event says about `user_id`'s active membership: False when it ends (revoked for
    them or for everybody, left, or no longer ACTIVE), True when active (again), None when the
    event is not about them. Streams follow their viewer with it, without database reads."""
    me = None if user_id is None else str(user_id)
    match event:
        case MembershipRevoked(user_id=target):
            return False if target is None or target == me else None
        case MemberLeft(user_id=left):
            return False if me is not None and left == me else None
        case MemberJoined(member=member) | MemberUpdated(member=member):
            if me is not None and str((member.get("user") or {}).get("id")) == me:
                return member.get("status") == "ACTIVE"
    return None
