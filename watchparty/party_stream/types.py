"""The party stream's GraphQL types: `PartyEvent` and the union of every domain's events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Union

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.parties.types import Party
from watchparty.party_stream import registry


@strawberry.type(
    description="The party as it is now: always the first item of a party stream, and again "
    "(with `resync: true`) when the stream cannot replay what the client missed."
)
class PartySnapshot:
    party: Party


_MEMBERS: tuple[type, ...] = (PartySnapshot, *registry.EVENT_TYPES)
PartyEventUnion = Annotated[Union[_MEMBERS], strawberry.union("PartyEventUnion")]  # type: ignore[valid-type]  # noqa: UP007


@same_for_every_viewer()
@strawberry.type(description="One item of a party stream.")
class PartyEvent:
    cursor: str | None = strawberry.field(
        description="Pass the last cursor seen as `after` when reconnecting to get exactly the "
        "missed events. Null for ephemeral events (presence), which are never replayed."
    )
    occurred_at: datetime
    resync: bool = strawberry.field(
        description="True on a snapshot sent because the events after the client's cursor are "
        "no longer retained: replace local state with it."
    )
    event: PartyEventUnion
    # Execution results shared by this process's subscribers with the same selection
    # (`gql.sharing.SharedEventExecutor`); None on items that are not shared (snapshots).
    shared_results: strawberry.Private[dict[Any, Any] | None] = None
    # DataLoaders shared by this process's subscribers rendering this event (`gql.shared`).
    shared_loaders: strawberry.Private[dict[str, Any] | None] = None
    # Encoded `next` payloads per shared selection, written as they are (`gql.frames`).
    shared_frames: strawberry.Private[dict[Any, Any] | None] = None
