"""Presence of one process (embedded mode): the same expiry semantics as Redis, in a dict."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence

from watchparty.parties.presence.store import Connection, Departure


class MemoryPresence:
    """One process's presence (embedded mode). Same expiry semantics as Redis."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        # party -> user -> connection -> expiry (monotonic seconds)
        self._parties: dict[uuid.UUID, dict[uuid.UUID, dict[str, float]]] = {}

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _live(self, connections: dict[str, float], now: float) -> bool:
        return any(expiry > now for expiry in connections.values())

    async def connect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        now = self._now()
        users = self._parties.setdefault(party_id, {})
        connections = users.setdefault(user_id, {})
        was_online = self._live(connections, now)
        connections[connection_id] = now + self.ttl_seconds
        return not was_online

    async def heartbeat(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        return await self.connect(party_id, user_id, connection_id)

    async def disconnect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        now = self._now()
        users = self._parties.get(party_id, {})
        connections = users.get(user_id)
        if connections is None or connection_id not in connections:
            return False
        was_online = self._live(connections, now)
        del connections[connection_id]
        still_online = self._live(connections, now)
        if not connections:
            del users[user_id]
            if not users:
                self._parties.pop(party_id, None)
        return was_online and not still_online

    async def online_user_ids(self, party_id: uuid.UUID) -> set[uuid.UUID]:
        now = self._now()
        users = self._parties.get(party_id, {})
        return {user for user, connections in users.items() if self._live(connections, now)}

    async def online_counts(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {party_id: len(await self.online_user_ids(party_id)) for party_id in party_ids}

    async def online_count(self, party_id: uuid.UUID) -> int:
        return len(await self.online_user_ids(party_id))

    async def is_online(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        connections = self._parties.get(party_id, {}).get(user_id, {})
        return self._live(connections, self._now())

    async def heartbeat_many(self, connections: Sequence[Connection]) -> list[bool]:
        return [await self.connect(c.party_id, c.user_id, c.connection_id) for c in connections]

    async def sweep(self, party_ids: Iterable[uuid.UUID] | None = None) -> list[Departure]:
        now = self._now()
        departed: list[Departure] = []
        wanted = list(self._parties) if party_ids is None else list(party_ids)
        for party_id in wanted:
            users = self._parties.get(party_id)
            if users is None:
                continue
            for user_id, connections in list(users.items()):
                had = bool(connections)
                for connection_id, expiry in list(connections.items()):
                    if expiry <= now:
                        del connections[connection_id]
                if not connections:
                    del users[user_id]
                    if had:
                        departed.append(Departure(party_id, user_id))
            if not users:
                del self._parties[party_id]
        return departed
