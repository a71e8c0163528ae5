"""The stream connections this process holds: registered, heartbeaten, and swept, in one task."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from watchparty.parties.presence.factory import get_presence
from watchparty.parties.presence.offline import announce_transition
from watchparty.parties.presence.store import Connection

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

KEEPER_KEY = "presence_keeper"


class PresenceKeeper:
    """The connections this process holds: registers them, heartbeats them, reports changes.

    One task per process (not per connection) refreshes every held connection each
    `PRESENCE_HEARTBEAT_SECONDS` in one round trip, then sweeps the parties it serves so that
    users of a dead process go offline for the members watching here without waiting for the
    periodic job. The task runs only while something is held.
    """

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.presence = get_presence(state)
        # Refresh well within the TTL, whatever the settings say, or connections would flap.
        settings = state.settings
        self.interval = min(settings.presence_heartbeat_seconds, settings.presence_ttl_seconds / 3)
        self._held: dict[str, Connection] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    async def hold(self, party_id: uuid.UUID, user_id: uuid.UUID) -> Connection:
        """Register a new connection of `user_id` to the party; announce them if they just came
        online. Never raises: presence is best effort, the stream works without it."""
        connection = Connection(party_id, user_id, uuid.uuid4().hex)
        self._held[connection.connection_id] = connection
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="presence-heartbeat")
        try:
            if await self.presence.connect(party_id, user_id, connection.connection_id):
                await announce_transition(self.state, party_id, user_id, online=True)
        except Exception:
            log.warning("presence connect failed", exc_info=True)
        return connection

    async def release(self, connection: Connection) -> None:
        """Drop a connection; announce the user offline if it was their last one."""
        if self._held.pop(connection.connection_id, None) is None:
            return
        if not self._held and self._task is not None:
            self._task.cancel()
            self._task = None
        try:
            if await self.presence.disconnect(
                connection.party_id, connection.user_id, connection.connection_id
            ):
                await announce_transition(
                    self.state, connection.party_id, connection.user_id, online=False
                )
        except Exception:
            log.warning("presence disconnect failed", exc_info=True)

    async def _run(self) -> None:
        while self._held:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)

    async def tick(self) -> None:
        """One heartbeat for every held connection, then a sweep of the parties served here."""
        connections = list(self._held.values())
        revived = await self.presence.heartbeat_many(connections)
        for connection, back in zip(connections, revived, strict=True):
            if back:  # swept while this process stalled: announce again
                await announce_transition(
                    self.state, connection.party_id, connection.user_id, online=True
                )
        parties = {c.party_id for c in connections}
        for departure in await self.presence.sweep(parties):
            await announce_transition(
                self.state, departure.party_id, departure.user_id, online=False
            )


def get_keeper(state: AppState) -> PresenceKeeper:
    keeper = state.extras.get(KEEPER_KEY)
    if keeper is None:
        keeper = PresenceKeeper(state)
        state.extras[KEEPER_KEY] = keeper
    return keeper  # type: ignore[no-any-return]
