"""`trackEvents`. Thin: unpack the input, call the ingestion service, map the outcome.

The field's resolver is replaced, once the schema is built (`use_raw_arguments`, called by
`schema.build_schema`), by one that reads graphql-core's already coerced input (plain dicts
keyed by the GraphQL names) instead of Strawberry's conversion into input objects: that
conversion walks every field of every event again and cost more than the rest of the call
(~0.25 ms an event, so a third of a 100-event call). The types, the SDL and the validation of
the input by graphql-core are the same; the resolvers share `_track`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLResolveInfo, GraphQLSchema

from watchparty.analytics import ingest
from watchparty.analytics.ingest_types import (
    TrackEventRejection,
    TrackEventsInput,
    TrackEventsPayload,
)
from watchparty.context import Context, Info
from watchparty.gql.errors import RateLimited, ServiceUnavailable, ValidationError, returns_errors
from watchparty.kit import clock

TrackEventsResult = Annotated[
    TrackEventsPayload | ValidationError | RateLimited | ServiceUnavailable,
    strawberry.union("TrackEventsResult"),
]


async def _track(
    ctx: Context, drafts: list[ingest.Draft], sent_at_ms: Any, anonymous_id: Any
) -> TrackEventsPayload:
    received = datetime.fromtimestamp(clock.received_ms() / 1000, UTC)
    user_id = ctx.viewer_id
    caller = ingest.Caller(
        user_id,
        ingest.check_anonymous_id(anonymous_id, required=user_id is None),
        ctx.client_ip,
        ctx.user_agent,
    )
    outcome = await ingest.track_events(ctx.state, caller, drafts, sent_at_ms, received_at=received)
    return TrackEventsPayload(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=[TrackEventRejection(index=r.index, reason=r.reason) for r in outcome.rejected],
    )


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
        drafts = [
            ingest.Draft(
                e.id, e.name, e.occurred_at_ms, e.party_id, e.video_id, e.position_seconds,
                e.properties,
            )
            for e in input.events
        ]  # fmt: skip
        return await _track(info.context, drafts, input.sent_at_ms, input.anonymous_id)


@returns_errors
async def _track_raw(
    _source: Any, info: GraphQLResolveInfo[Any], input: dict[str, Any]
) -> TrackEventsResult:
    drafts = [ingest.draft_of(item) for item in input["events"]]
    return await _track(info.context, drafts, input.get("sentAtMs"), input.get("anonymousId"))


def use_raw_arguments(schema: GraphQLSchema) -> None:
    """Resolve `trackEvents` from graphql-core's coerced input (see the module docstring)."""
    mutation = schema.mutation_type
    assert mutation is not None
    mutation.fields["trackEvents"].resolve = _track_raw
