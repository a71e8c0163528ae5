"""Party events rendered once per process: N local subscribers share one `PartyEvent`."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any

from watchparty.events import Arrival, format_cursor
from watchparty.party_stream import registry
from watchparty.party_stream.types import PartyEvent

log = logging.getLogger(__name__)


def render_event(event: Any, party_id: uuid.UUID) -> Any:
    """The union member for an event; None for one the party stream does not carry (logged)."""
    render = registry.RENDERERS.get(type(event))
    if render is None:
        log.warning("party event of unknown type skipped", extra={"type": type(event).__name__})
        return None
    return render(event, party_id)


class EventCache:
    """Rendered `PartyEvent`s of this process, so N local subscribers share one object.

    Stored events are keyed by (channel, seq) (subscribers replaying from the log decode their
    own copies but still share the rendering); ephemeral ones by the identity of what the
    channel reader fanned out (kept alive by the entry, so the id is not reused meanwhile).
    """

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self.renders = 0  # how many events were rendered (tests, observability)
        self._entries: OrderedDict[Any, tuple[object, PartyEvent | None]] = OrderedDict()

    def get(self, party_id: uuid.UUID, arrival: Arrival) -> PartyEvent | None:
        stored = arrival.seq is not None
        key: Any = arrival.key if stored else id(arrival.key)
        entry = self._entries.get(key)
        if entry is not None and (stored or entry[0] is arrival.key):
            self._entries.move_to_end(key)
            return entry[1]
        rendered = self._render(party_id, arrival)
        self._entries[key] = (arrival.key, rendered)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return rendered

    def _render(self, party_id: uuid.UUID, arrival: Arrival) -> PartyEvent | None:
        self.renders += 1
        if arrival.event is None:
            return None  # unreadable here (logged by `events.decode`)
        try:
            member = render_event(arrival.event, party_id)
        except (KeyError, TypeError, ValueError):
            log.exception("malformed party event skipped", extra={"seq": arrival.seq})
            return None
        if member is None:
            return None
        return PartyEvent(
            cursor=None if arrival.seq is None else format_cursor(arrival.seq),
            occurred_at=arrival.created_at,
            resync=False,
            event=member,
            shared_results={},
            shared_loaders={},
            shared_frames={},
        )


EVENT_CACHE_KEY = "party_event_cache"


def get_event_cache(state: Any) -> EventCache:
    """This process's `EventCache` of rendered party events."""
    cache = state.extras.get(EVENT_CACHE_KEY)
    if cache is None:
        cache = state.extras[EVENT_CACHE_KEY] = EventCache()
    return cache  # type: ignore[no-any-return]
