"""This domain's members of the party stream's event union (see `parties.stream_types`).

The contract every domain's `events.py` keeps:
- `EVENT_TYPES`: the Strawberry types added to `PartyEventUnion`;
- `RENDERERS`: event `type` -> `render(payload, party_id)` building the union member from the
  stored (or ephemeral) payload dict, without database reads;
- `STORED`: the types recorded with `parties.stream.record_event` (cursor, replay);
  `EPHEMERAL`: the types sent with `parties.stream.publish_ephemeral_event` (never replayed);
- `SHARED_FIELDS`: GraphQL type name -> the fields whose value is the same for every viewer
  (None: all of them). A selection touching any other field runs per subscriber.

Polls: `PollChanged { poll }` is stored, on creation, on every ballot change (with the new
counts) and on close. `Poll.myOptionIds` is the only viewer-dependent field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

if TYPE_CHECKING:
    from watchparty.polls.types import Poll


@strawberry.type(description="A poll was created, got or lost votes, or closed.")
class PollChanged:
    poll: Annotated[Poll, strawberry.lazy("watchparty.polls.types")]


def _render(payload: dict[str, Any], party_id: uuid.UUID) -> PollChanged:
    from watchparty.polls.types import Poll

    return PollChanged(poll=Poll.from_payload(payload["poll"]))


EVENT_TYPES: tuple[type, ...] = (PollChanged,)
RENDERERS: dict[str, Callable[[dict[str, Any], uuid.UUID], Any]] = {"PollChanged": _render}
STORED: frozenset[str] = frozenset({"PollChanged"})
EPHEMERAL: frozenset[str] = frozenset()
SHARED_FIELDS: dict[str, frozenset[str] | None] = {
    "PollChanged": frozenset({"poll"}),
    "Poll": frozenset(
        {
            "id",
            "question",
            "options",
            "allowsMultiple",
            "status",
            "closesAt",
            "closedAt",
            "createdBy",
            "totalVoters",
            "totalVotes",
            "createdAt",
        }
    ),
    "PollOption": None,
}
