"""This domain's members of the party stream's event union (see `parties.stream_types`).

The contract every domain's `events.py` keeps:
- `EVENT_TYPES`: the Strawberry types added to `PartyEventUnion`;
- `RENDERERS`: event `type` -> `render(payload, party_id)` building the union member from the
  stored (or ephemeral) payload dict, without database reads;
- `STORED`: the types recorded with `parties.stream.record_event` (cursor, replay);
  `EPHEMERAL`: the types sent with `parties.stream.publish_ephemeral_event` (never replayed);
- `SHARED_FIELDS`: GraphQL type name -> the fields whose value is the same for every viewer
  (None: all of them). A selection touching any other field runs per subscriber.

Reactions: `ReactionSent { reaction }` is ephemeral (no cursor, never replayed) and the same for
every viewer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

if TYPE_CHECKING:
    from watchparty.reactions.types import Reaction


@strawberry.type(description="Someone sent a live reaction. Ephemeral: no cursor, no replay.")
class ReactionSent:
    reaction: Annotated[Reaction, strawberry.lazy("watchparty.reactions.types")]


def _render(payload: dict[str, Any], party_id: uuid.UUID) -> ReactionSent:
    from watchparty.reactions.types import Reaction

    return ReactionSent(reaction=Reaction.from_payload(payload["reaction"]))


EVENT_TYPES: tuple[type, ...] = (ReactionSent,)
RENDERERS: dict[str, Callable[[dict[str, Any], uuid.UUID], Any]] = {"ReactionSent": _render}
STORED: frozenset[str] = frozenset()
EPHEMERAL: frozenset[str] = frozenset({"ReactionSent"})
SHARED_FIELDS: dict[str, frozenset[str] | None] = {
    "ReactionSent": frozenset({"reaction"}),
    "Reaction": None,
}
