"""Polls' member of the party stream's union (the contract: `parties/stream_types.py`).

`Poll.myOptionIds` is the only viewer-dependent field."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import strawberry

from watchparty.gql.sharing import same_for_every_viewer
from watchparty.polls import events
from watchparty.polls.types import Poll


@same_for_every_viewer()
@strawberry.type(description="A poll was created, got or lost votes, or closed.")
class PollChanged:
    poll: Poll


RENDERERS: dict[type[Any], Callable[[Any, uuid.UUID], Any]] = {
    events.PollChanged: lambda e, _: PollChanged(poll=Poll.from_payload(e.poll)),
}
EVENT_TYPES: tuple[type, ...] = (PollChanged,)
