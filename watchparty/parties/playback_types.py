"""GraphQL types of playback and the queue.

Events carry plain JSON payloads built once by `parties.payloads` (`playback_payload`,
`queue_item_payload`, no GraphQL there, so the services can store them); the types render from
those payloads (`from_payload`) without reading the database. Users are embedded as
`parties.payloads.user_payload` dicts; only `QueueItem.addedBy` (an id in the payload) goes
through the per-operation user loader.

`playback_for_party` / `queue_for_party` serve the `Party.playback` / `Party.queue` fields through
per-operation DataLoaders (each batch has its own short session, never a shared one).
"""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.errors import UserError
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.kit.time import epoch_ms
from watchparty.parties.inputs import MediaInput
from watchparty.parties.loaders import playback_loaders_of
from watchparty.parties.member_types import user_from_payload
from watchparty.parties.payloads import playback_payload, playback_user_ids, queue_item_payload
from watchparty.parties.provider_types import MediaProvider
from watchparty.parties.providers import embed_parent, source_of
from watchparty.parties.timeline import PlaybackState as TimelineState
from watchparty.parties.timeline import PlayerState

PlaybackStatus = strawberry.enum(
    TimelineState,
    name="PlaybackStatus",
    description="IDLE: nothing loaded; WAITING: playing but held for buffering members; "
    "PAUSED; PLAYING (from anchorServerTimeMs on); ENDED: the item reached its end.",
)
strawberry.enum(PlayerState, description="What a member's player reports.")


# -- GraphQL types ------------------------------------------------------------------------------


@same_for_every_viewer()
@strawberry.type(description="One entry of a party's queue.")
class QueueItem:
    id: strawberry.ID
    position: int = strawberry.field(description="0-based place in the queue.")
    title: str
    url: str | None
    video_id: strawberry.ID | None = strawberry.field(
        description="The library video this item plays, if any."
    )
    duration_seconds: float | None = strawberry.field(
        description="Null when unknown: the item then plays until a controller moves on."
    )
    added_by_id: strawberry.Private[str | None]

    @strawberry.field(
        description="Which provider plays it and how (embed URL, player, sync abilities); null "
        "for a link no provider recognises (queued before links were checked)."
    )
    def provider(self, info: Info) -> MediaProvider | None:
        parent = embed_parent(info.context.state.settings.frontend_url)
        source = source_of(self.url, parent=parent)
        return None if source is None else MediaProvider.of(source)

    @strawberry.field(description="Who added it (null when that account is gone).")
    async def added_by(self, info: Info) -> User | None:
        if self.added_by_id is None:
            return None
        user = await user_loader_of(info.context.loaders).load(uuid.UUID(self.added_by_id))
        return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> QueueItem:
        video_id = payload.get("videoId")
        return cls(
            id=strawberry.ID(payload["id"]),
            position=payload["position"],
            title=payload["title"],
            url=payload.get("url"),
            video_id=None if video_id is None else strawberry.ID(video_id),
            duration_seconds=payload.get("durationSeconds"),
            added_by_id=payload.get("addedBy"),
        )


@same_for_every_viewer()
@strawberry.type(
    description="The timeline segment a change anchored in the future replaces: it still "
    "describes the playhead until that change's anchorServerTimeMs (SYNC.md). While PLAYING "
    "the playhead is positionSeconds + (serverNow - anchorServerTimeMs) * rate / 1000; in "
    "every other state it is positionSeconds."
)
class PlaybackSegment:
    state: TimelineState
    position_seconds: float
    anchor_server_time_ms: float = strawberry.field(description="Server epoch milliseconds.")
    rate: float

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PlaybackSegment:
        return cls(
            state=TimelineState(payload["state"]),
            position_seconds=payload["positionSeconds"],
            anchor_server_time_ms=payload["anchorServerTimeMs"],
            rate=payload["rate"],
        )


@same_for_every_viewer()
@strawberry.type(
    name="PlaybackState",
    description="The party's authoritative timeline (SYNC.md). From anchorServerTimeMs on, "
    "while PLAYING the playhead is positionSeconds + (serverNow - anchorServerTimeMs) * rate / "
    "1000; in every other state it is positionSeconds. Before the anchor the change has not "
    "happened yet: `previous` describes the playhead (when null, it holds at positionSeconds). "
    "Ignore a revision lower than one already seen.",
)
class PlaybackState:
    state: TimelineState
    item: QueueItem | None
    position_seconds: float
    anchor_server_time_ms: float = strawberry.field(description="Server epoch milliseconds.")
    rate: float
    revision: int
    wait_deadline_ms: float | None = strawberry.field(
        description="WAITING only: server epoch ms at which playback resumes regardless."
    )
    waiting_for: list[User] = strawberry.field(description="WAITING: the members waited for.")
    lagging: list[User] = strawberry.field(
        description="Members still buffering when the last wait timed out (until the next change)."
    )
    updated_by: User | None = strawberry.field(
        description="Who made the last change (null for automatic ones)."
    )
    previous: PlaybackSegment | None = strawberry.field(
        description="While anchorServerTimeMs is in the future: the segment this change "
        "replaces, which describes the playhead until the anchor. Null once the anchor has "
        "passed (and for item changes: the new item holds at 0 until its anchor); a replayed "
        "event may still carry it, so ignore it once serverNow >= anchorServerTimeMs."
    )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PlaybackState:
        item = payload.get("item")
        updated_by = payload.get("updatedBy")
        previous = payload.get("previous")
        return cls(
            state=TimelineState(payload["state"]),
            item=None if item is None else QueueItem.from_payload(item),
            position_seconds=payload["positionSeconds"],
            anchor_server_time_ms=payload["anchorServerTimeMs"],
            rate=payload["rate"],
            revision=payload["revision"],
            wait_deadline_ms=payload.get("waitDeadlineMs"),
            waiting_for=[user_from_payload(u) for u in payload.get("waitingFor", [])],
            lagging=[user_from_payload(u) for u in payload.get("lagging", [])],
            updated_by=None if updated_by is None else user_from_payload(updated_by),
            previous=None if previous is None else PlaybackSegment.from_payload(previous),
        )


@strawberry.type(description="Someone changed the timeline first; `current` is the fresh one.")
class RevisionConflict(UserError):
    current: PlaybackState


@strawberry.type
class PlaybackPayload:
    playback: PlaybackState


@strawberry.type
class QueuePayload:
    queue: list[QueueItem]
    playback: PlaybackState


@strawberry.type(description="One clock-sync sample (SYNC.md): all times are epoch ms.")
class ServerTime:
    client_time_ms: float = strawberry.field(description="Echoed from the request.")
    server_received_ms: float = strawberry.field(
        description="Taken when the request reached the server, before it was parsed."
    )

    @strawberry.field(description="Taken as the answer is assembled, as late as GraphQL allows.")
    def server_sent_ms(self) -> float:
        return epoch_ms()


@strawberry.type(description="The report was recorded (reports are never fanned out).")
class ReportPlayerStatePayload:
    drift_ms: float | None = strawberry.field(
        description="Reported position minus the timeline's, in ms (null when not comparable)."
    )
    revision: int = strawberry.field(description="The timeline revision after the report.")


@strawberry.type
class SetIgnoreWaitPayload:
    user_id: strawberry.ID
    ignore_wait: bool
    playback: PlaybackState


# -- inputs -------------------------------------------------------------------------------------


@strawberry.input
class PlaybackControlInput:
    party_id: strawberry.ID
    expected_revision: int | None = strawberry.field(
        default=None, description="Refuse with RevisionConflict unless the timeline is at it."
    )


@strawberry.input
class SeekInput:
    party_id: strawberry.ID
    position_seconds: float
    expected_revision: int | None = None


@strawberry.input
class SetPlaybackRateInput:
    party_id: strawberry.ID
    rate: float = strawberry.field(description="0.25 to 2.")
    expected_revision: int | None = None


@strawberry.input
class PlayQueueItemInput:
    party_id: strawberry.ID
    item_id: strawberry.ID
    expected_revision: int | None = None


@strawberry.input
class AddToQueueInput:
    party_id: strawberry.ID
    media: MediaInput
    position: int | None = strawberry.field(
        default=None, description="0-based place to insert at; the end when null or too large."
    )


@strawberry.input
class RemoveFromQueueInput:
    party_id: strawberry.ID
    item_id: strawberry.ID


@strawberry.input
class MoveQueueItemInput:
    party_id: strawberry.ID
    item_id: strawberry.ID
    position: int = strawberry.field(description="The 0-based place it moves to (clamped).")


@strawberry.input
class ReportPlayerStateInput:
    party_id: strawberry.ID
    state: PlayerState
    position_seconds: float
    client_time_ms: float = strawberry.field(description="The client's clock, epoch ms.")
    rtt_ms: float | None = strawberry.field(
        default=None, description="The client's best measured round trip to the server."
    )
    item_id: strawberry.ID | None = strawberry.field(
        default=None, description="The item the player has loaded (drift is skipped if stale)."
    )


@strawberry.input
class SetIgnoreWaitInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    ignore: bool


# -- Party.playback / Party.queue through per-operation loaders ---------------------------------


def _as_uuid(party_id: str | uuid.UUID) -> uuid.UUID:
    return party_id if isinstance(party_id, uuid.UUID) else uuid.UUID(str(party_id))


async def playback_for_party(info: Info, party_id: str | uuid.UUID) -> PlaybackState:
    """`Party.playback` (the caller has checked visibility)."""
    pid = _as_uuid(party_id)
    loaders = playback_loaders_of(info.context.loaders)
    party = await loaders.party.load(pid)
    if party is None:
        raise LookupError(f"party {pid} vanished")
    item = None
    if party.current_item_id is not None:
        queue = await loaders.queue.load(pid)
        item = next((i for i in queue if i.id == party.current_item_id), None)
    ids = sorted(playback_user_ids(party))
    loaded = await user_loader_of(info.context.loaders).load_many(ids) if ids else []
    users = {u.id: u for u in loaded if u is not None}
    return PlaybackState.from_payload(playback_payload(party, item, users))


async def queue_for_party(info: Info, party_id: str | uuid.UUID) -> list[QueueItem]:
    """`Party.queue` in order (the caller has checked visibility)."""
    queue = await playback_loaders_of(info.context.loaders).queue.load(_as_uuid(party_id))
    return [QueueItem.from_payload(queue_item_payload(item)) for item in queue]
