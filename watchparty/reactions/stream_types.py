"""Reactions' member of the party stream's union (the contract: `parties/stream_types.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.reactions import events
from watchparty.reactions.types import Reaction


@same_for_every_viewer()
@strawberry.type(description="Someone sent a live reaction. Ephemeral: no cursor, no replay.")
class ReactionSent:
    reaction: Reaction


RENDERERS: dict[type[Any], Callable[[Any, uuid.UUID], Any]] = {
    events.ReactionSent: lambda e, _: ReactionSent(reaction=Reaction.from_payload(e.reaction)),
}
EVENT_TYPES: tuple[type, ...] = (ReactionSent,)
