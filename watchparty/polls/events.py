"""This domain's members of the party stream's event union (see `parties.stream_types`).

The contract every domain's `events.py` keeps:
- `EVENT_TYPES`: the Strawberry types added to `PartyEventUnion`;
- `RENDERERS`: event `type` -> `render(payload, party_id)` building the union member from the
  stored (or ephemeral) payload dict, without database reads;
- `STORED`: the types recorded with `parties.stream.record_event` (cursor, replay);
  `EPHEMERAL`: the types sent with `parties.stream.publish_ephemeral_event` (never replayed);
- `SHARED_FIELDS`: GraphQL type name -> the fields whose value is the same for every viewer
  (None: all of them). A selection touching any other field runs per subscriber.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

EVENT_TYPES: tuple[type, ...] = ()
RENDERERS: dict[str, Callable[[dict[str, Any], uuid.UUID], Any]] = {}
STORED: frozenset[str] = frozenset()
EPHEMERAL: frozenset[str] = frozenset()
SHARED_FIELDS: dict[str, frozenset[str] | None] = {}
