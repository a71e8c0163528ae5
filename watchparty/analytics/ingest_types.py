"""GraphQL face of ingestion: `trackEvents`' input, payload and rejection reasons."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from watchparty.analytics.ingest import MAX_EVENTS, Reason

TrackRejectionReason = strawberry.enum(
    Reason,
    name="TrackRejectionReason",
    description="Why one event of a trackEvents call was not stored (the others were).",
)


@strawberry.input(description="One analytics event, as the client saw it.")
class TrackEventInput:
    id: str = strawberry.field(
        description="Client-generated, 8-64 characters of A-Z a-z 0-9 _ - (a UUID or a ULID). "
        "Sending the same id again (a retry) stores nothing twice: it counts in `duplicates`."
    )
    name: str = strawberry.field(
        description="A client event of the catalog (page.view, player.play, player.seek, "
        "player.heartbeat, party.ui.*...); anything else: UNKNOWN_NAME."
    )
    occurred_at_ms: float = strawberry.field(
        description="When it happened, epoch milliseconds on the client's clock (corrected "
        "with `sentAtMs`)."
    )
    party_id: strawberry.ID | None = None
    video_id: strawberry.ID | None = None
    position_seconds: float | None = strawberry.field(
        default=None, description="The playback position then (>= 0)."
    )
    properties: JSON | None = strawberry.field(
        default=None,
        description="A flat map of scalars (strings up to 200 characters, numbers, booleans), "
        "at most 20 keys; keys the catalog does not declare for `name` are dropped. Never shown "
        "to anyone else.",
    )


@strawberry.input
class TrackEventsInput:
    events: list[TrackEventInput] = strawberry.field(
        description=f"At most {MAX_EVENTS}; more is a ValidationError and nothing is stored."
    )
    sent_at_ms: float | None = strawberry.field(
        default=None,
        description="The client's clock when it sent this call (epoch ms): event times are "
        "shifted by the server's receive time minus this.",
    )
    anonymous_id: str | None = strawberry.field(
        default=None,
        description="Required when not signed in: a random id the browser keeps (8-64 "
        "characters of A-Z a-z 0-9 _ -).",
    )


@strawberry.type
class TrackEventRejection:
    index: int = strawberry.field(description="The event's position in `events`.")
    reason: TrackRejectionReason  # type: ignore[valid-type]


@strawberry.type(description="What happened to a trackEvents call's events.")
class TrackEventsPayload:
    accepted: int = strawberry.field(description="Stored now (durable).")
    duplicates: int = strawberry.field(description="Already stored by an earlier call.")
    rejected: list[TrackEventRejection] = strawberry.field(
        description="The events not stored, each with why (at most the call's events)."
    )
