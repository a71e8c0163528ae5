"""`trackEvents`. Thin: unpack the input, call the ingestion service, map the outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry

from watchparty.analytics import ingest
from watchparty.analytics.ingest_types import (
    TrackEventRejection,
    TrackEventsInput,
    TrackEventsPayload,
)
from watchparty.context import Info
from watchparty.gql.errors import RateLimited, ServiceUnavailable, ValidationError, returns_errors
from watchparty.kit import clock

TrackEventsResult = Annotated[
    TrackEventsPayload | ValidationError | RateLimited | ServiceUnavailable,
    strawberry.union("TrackEventsResult"),
]


@strawberry.type
class IngestMutations:
    @strawberry.mutation(
        description="Record a batch of analytics events (up to 500). Signed in: the events "
        "carry the user; anonymous: `anonymousId` is required and the rate limit is stricter. "
        "Each event is accepted, a duplicate (a retry), or rejected with a reason. RateLimited "
        "when the caller sends too often or the server is catching up (retry after the delay)."
    )
    @returns_errors
    async def track_events(self, info: Info, input: TrackEventsInput) -> TrackEventsResult:
        ctx = info.context
        received = datetime.fromtimestamp(clock.received_ms() / 1000, UTC)
        user_id = ctx.viewer_id
        caller = ingest.Caller(
            user_id,
            ingest.check_anonymous_id(input.anonymous_id, required=user_id is None),
            ctx.client_ip,
            ctx.user_agent,
        )
        drafts = [
            ingest.Draft(
                e.id, e.name, e.occurred_at_ms, e.party_id, e.video_id, e.position_seconds,
                e.properties,
            )
            for e in input.events
        ]  # fmt: skip
        outcome = await ingest.track_events(
            ctx.state, caller, drafts, input.sent_at_ms, received_at=received
        )
        return TrackEventsPayload(
            accepted=outcome.accepted,
            duplicates=outcome.duplicates,
            rejected=[
                TrackEventRejection(index=r.index, reason=r.reason) for r in outcome.rejected
            ],
        )
