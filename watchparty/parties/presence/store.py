"""The presence store's interface, and the values it deals in.

Two implementations: `memory.MemoryPresence` (one process) and `redis_store.RedisPresence`
(shared by every API process); `factory.get_presence` picks one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Connection:
    """One stream held by one user: the unit presence counts."""

    party_id: uuid.UUID
    user_id: uuid.UUID
    connection_id: str


@dataclass(frozen=True, slots=True)
class Departure:
    """A user the sweeper found offline (their last connection expired)."""

    party_id: uuid.UUID
    user_id: uuid.UUID


class Presence(Protocol):
    ttl_seconds: float

    async def connect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Register a connection; True when the user just came online."""
        ...

    async def heartbeat(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Extend a connection's expiry (re-adding it if it was swept); True when that brought
        the user back online."""
        ...

    async def disconnect(self, party_id: uuid.UUID, user_id: uuid.UUID, connection_id: str) -> bool:
        """Remove a connection; True when the user just went offline."""
        ...

    async def online_user_ids(self, party_id: uuid.UUID) -> set[uuid.UUID]: ...

    async def online_counts(self, party_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Online users per party (for listings: one round trip for many parties)."""
        ...

    async def online_count(self, party_id: uuid.UUID) -> int: ...

    async def is_online(self, party_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...

    async def heartbeat_many(self, connections: Sequence[Connection]) -> list[bool]:
        """`heartbeat` for many connections in one round trip."""
        ...

    async def sweep(self, party_ids: Iterable[uuid.UUID] | None = None) -> list[Departure]:
        """Drop expired connections (of `party_ids`, or everywhere); the users that went
        offline because of it."""
        ...
