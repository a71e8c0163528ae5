"""The GraphQL face of the party's own events (`parties.events`): union members and renderers.

The contract every domain's `stream_types.py` keeps (the party stream lists them in
`watchparty.party_stream.registry`):
- `EVENT_TYPES`: the Strawberry types this domain adds to `PartyEventUnion`;
- `RENDERERS`: event class -> `render(event, party_id)` building the union member from the
  event alone (no database reads: every subscriber of the process shares the result);
- fields whose value is the same for every viewer are declared on their classes with
  `gql.sharing.same_for_every_viewer`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.parties import events
from watchparty.parties.member_types import PartyMember
from watchparty.parties.playback_types import PlaybackState, QueueItem
from watchparty.parties.types import Party


@strawberry.enum(description="Why a member's party stream ended.")
class MembershipRevokedReason(StrEnum):
    KICKED = "KICKED"
    BANNED = "BANNED"
    PARTY_DELETED = "PARTY_DELETED"


@same_for_every_viewer()
@strawberry.type(description="The timeline changed (a new revision).")
class PlaybackChanged:
    playback: PlaybackState


@same_for_every_viewer()
@strawberry.type(description="The queue changed; `queue` is the whole queue in play order.")
class QueueChanged:
    queue: list[QueueItem]


@same_for_every_viewer()
@strawberry.type(description="Someone became an active member.")
class MemberJoined:
    member: PartyMember


@same_for_every_viewer()
@strawberry.type(description="A member left (or was removed; see MembershipRevoked).")
class MemberLeft:
    user_id: strawberry.ID


@same_for_every_viewer()
@strawberry.type(description="A member's role, status or drift changed.")
class MemberUpdated:
    member: PartyMember


@same_for_every_viewer()
@strawberry.type(
    description="Who came online (their first connection holds the stream) and who went "
    "offline (their last one let go, or expired) since the party's previous presence event: "
    "coalesced, at most one per party every PRESENCE_BATCH_SECONDS (per API process). "
    "Ephemeral: no cursor, never replayed (the snapshot's `party.onlineCount` and "
    "`members(online: true)` give the current state)."
)
class PresenceChanged:
    came_online: list[strawberry.ID] = strawberry.field(
        description="Users who came online (empty when `countsOnly`)."
    )
    went_offline: list[strawberry.ID] = strawberry.field(
        description="Users who went offline (empty when `countsOnly`)."
    )
    online_count: int = strawberry.field(
        description="Users online in the party once these changes happened (members and, in "
        "a PUBLIC party, signed-in viewers)."
    )
    counts_only: bool = strawberry.field(
        description="True when more than PRESENCE_LIST_LIMIT were online: the lists are "
        "left out and only `onlineCount` says what changed."
    )


@same_for_every_viewer()
@strawberry.type(description="The party's title, description, visibility or settings changed.")
class PartyUpdated:
    party: Party


@same_for_every_viewer()
@strawberry.type(description="The party ended.")
class PartyEnded:
    party_id: strawberry.ID


@same_for_every_viewer()
@strawberry.type(
    description="The viewer's membership was revoked (or the party deleted); the stream then "
    "completes. Delivered only to the streams it concerns."
)
class MembershipRevoked:
    reason: MembershipRevokedReason


RENDERERS: dict[type[Any], Callable[[Any, uuid.UUID], Any]] = {
    events.PlaybackChanged: lambda e, _: PlaybackChanged(
        playback=PlaybackState.from_payload(e.playback)
    ),
    events.QueueChanged: lambda e, _: QueueChanged(
        queue=[QueueItem.from_payload(item) for item in e.queue]
    ),
    events.MemberJoined: lambda e, _: MemberJoined(member=PartyMember.from_payload(e.member)),
    events.MemberUpdated: lambda e, _: MemberUpdated(member=PartyMember.from_payload(e.member)),
    events.MemberLeft: lambda e, _: MemberLeft(user_id=strawberry.ID(e.user_id)),
    events.PresenceChanged: lambda e, _: PresenceChanged(
        came_online=[strawberry.ID(u) for u in e.came_online],
        went_offline=[strawberry.ID(u) for u in e.went_offline],
        online_count=int(e.online_count),
        counts_only=bool(e.counts_only),
    ),
    events.PartyUpdated: lambda e, _: PartyUpdated(party=Party.from_payload(e.party)),
    events.PartyEnded: lambda _, party_id: PartyEnded(party_id=strawberry.ID(str(party_id))),
    events.MembershipRevoked: lambda e, _: MembershipRevoked(
        reason=MembershipRevokedReason(e.reason)
    ),
}
EVENT_TYPES: tuple[type, ...] = (
    PlaybackChanged,
    QueueChanged,
    MemberJoined,
    MemberLeft,
    MemberUpdated,
    PresenceChanged,
    PartyUpdated,
    PartyEnded,
    MembershipRevoked,
)
