"""This process's presence store: Redis when the app has Redis, else the memory store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchparty.parties.presence.memory import MemoryPresence
from watchparty.parties.presence.redis_store import RedisPresence
from watchparty.parties.presence.store import Presence

if TYPE_CHECKING:
    from watchparty.state import AppState

EXTRAS_KEY = "presence"


def create_presence(state: AppState) -> Presence:
    ttl = state.settings.presence_ttl_seconds
    if state.redis is not None:
        return RedisPresence(state.redis, prefix=state.settings.redis_key_prefix, ttl_seconds=ttl)
    return MemoryPresence(ttl_seconds=ttl)


def get_presence(state: AppState) -> Presence:
    """This process's presence store, created on first use and kept in `state.extras`."""
    presence = state.extras.get(EXTRAS_KEY)
    if presence is None:
        presence = create_presence(state)
        state.extras[EXTRAS_KEY] = presence
    return presence  # type: ignore[no-any-return]
