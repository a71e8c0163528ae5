"""Live reactions on the party stream: ephemeral (no cursor, never replayed). `reaction` is
`reactions.service`'s reaction payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, register


@register("reactions.reaction_sent", stored=False, legacy="ReactionSent")
@dataclass(frozen=True, slots=True)
class ReactionSent(Event):
    reaction: dict[str, Any]
