"""Presence announcements coalesced: at most one `PresenceChanged` per party, per process, per
`PRESENCE_BATCH_SECONDS`.

Every member coming online used to fan one event out to everybody already there: N arrivals, N^2
deliveries. Now a transition is noted here and, once per window, one event per party carries
everyone who came and went in it, plus the party's online count read from the (shared) store at
that moment. Above `PRESENCE_LIST_LIMIT` online the lists are left out (`countsOnly`), so an
event's size is bounded too, and such a party's events come at most every `LARGE_PARTY_WINDOWS`
windows (one a second by default). Each API process batches the transitions it saw and publishes
its own batch (several processes: at most one event per process per window); nothing is kept in
memory that another process needs: the online set itself lives in the store. A batch not yet
published when the process dies is lost with the process; its users expire and the sweeper
announces them, as before.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watchparty.parties.events import publish_presence
from watchparty.parties.presence.factory import get_presence

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

BATCHER_KEY = "presence_batcher"
LARGE_PARTY_WINDOWS = 4  # a counts-only party's window, in PRESENCE_BATCH_SECONDS


@dataclass(slots=True)
class _Batch:
    changes: dict[uuid.UUID, bool] = field(default_factory=dict)  # user -> online (latest)


class PresenceBatcher:
    """The transitions this process saw and has not announced yet, per party."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.window = state.settings.presence_batch_seconds
        self.list_limit = state.settings.presence_list_limit
        self._batches: dict[uuid.UUID, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Parties whose last event was counts only: a hint for the next window's length, no
        # more (another process may see another count; each only paces its own events).
        self._large: set[uuid.UUID] = set()

    def note(self, party_id: uuid.UUID, user_id: uuid.UUID, online: bool) -> None:
        """Announce `user_id`'s transition with the party's next batch (the latest wins)."""
        batch = self._batches.get(party_id)
        if batch is None:
            batch = self._batches[party_id] = _Batch()
            task = asyncio.create_task(self._publish_later(party_id), name="presence-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.changes.pop(user_id, None)  # keep the order of the latest transitions
        batch.changes[user_id] = online

    async def _publish_later(self, party_id: uuid.UUID) -> None:
        # A count needs no haste: a large party's window is LARGE_PARTY_WINDOWS times longer,
        # which keeps its events to one a second (at the default) while crowds arrive.
        large = party_id in self._large
        await asyncio.sleep(self.window * (LARGE_PARTY_WINDOWS if large else 1))
        batch = self._batches.pop(party_id, None)
        if batch is None:
            return
        try:
            count = await get_presence(self.state).online_count(party_id)
            counts_only = count > self.list_limit
            if counts_only:
                self._large.add(party_id)
            else:
                self._large.discard(party_id)
            came = [] if counts_only else [str(u) for u, on in batch.changes.items() if on]
            went = [] if counts_only else [str(u) for u, on in batch.changes.items() if not on]
            await publish_presence(self.state.hub, party_id, came, went, count, counts_only)
        except Exception:
            log.warning("presence batch not published", exc_info=True)

    async def flush(self) -> None:
        """Wait for the batches pending now (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def get_batcher(state: AppState) -> PresenceBatcher:
    batcher = state.extras.get(BATCHER_KEY)
    if batcher is None:
        batcher = PresenceBatcher(state)
        state.extras[BATCHER_KEY] = batcher
    return batcher  # type: ignore[no-any-return]
