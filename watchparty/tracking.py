"""The server's own analytics events, recorded without slowing the request.

A domain calls `track(uow, "party.join", user_id=..., party_id=...)` inside its unit of work; the
event is handed to the sink after the commit (a rolled-back change records nothing). Names come
from the analytics catalog (`watchparty.analytics.catalog`, server names). The sink is the
analytics domain's store, registered by the composition root (`registry.py` calls `use_sink`):
this floor module names no domain. Without a sink (a process that did not import the registry)
events are dropped. Recording never raises into the caller: analytics must not break a request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from watchparty.kit.time import utcnow

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.state import AppState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tracked:
    """One server event, as the domains describe it."""

    name: str
    user_id: uuid.UUID | None = None
    party_id: uuid.UUID | None = None
    video_id: uuid.UUID | None = None
    position_seconds: float | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


Sink = Callable[["AppState", list[Tracked]], Awaitable[None]]

_sink: Sink | None = None


def use_sink(sink: Sink) -> None:
    """The composition root's registration: where tracked events go (idempotent)."""
    global _sink
    _sink = sink


def track(
    uow: UnitOfWork,
    name: str,
    *,
    user_id: uuid.UUID | None = None,
    party_id: uuid.UUID | None = None,
    video_id: uuid.UUID | None = None,
    position_seconds: float | None = None,
    **properties: Any,
) -> None:
    """Record `name` once `uow` commits (the sink batches what arrives close together)."""
    event = Tracked(name, user_id, party_id, video_id, position_seconds, properties)
    state = uow.state

    async def hand_over() -> None:
        await emit(state, [event])

    uow.after_commit(hand_over)


async def emit(state: AppState | None, events: list[Tracked]) -> None:
    """Hand `events` to the sink now (for callers without a unit of work). Never raises."""
    if _sink is None or state is None or not events:
        return
    try:
        await _sink(state, events)
    except Exception:
        log.warning("analytics: %d server events dropped", len(events), exc_info=True)
