"""Sign-ins this process found valid a moment ago, so an HTTP request need not check its access
token's sign-in in the database again (one connection checkout and query fewer per request).

A revocation announced by any process (`revocations`: after its commit, here at once and on the
broadcast channel elsewhere) forgets the session before the revoking request is answered; one
made behind the API's back (a direct database write) or whose message was lost is honoured after
at most `SESSION_CHECK_CACHE_SECONDS` (default 1 s; 0 checks every request).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.state import AppState

EXTRAS_KEY = "checked_sessions"
# Entries are dropped when they expire; the cap only bounds a burst of distinct sign-ins.
MAX_ENTRIES = 50_000


class CheckedSessions:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._until: dict[uuid.UUID, tuple[float, uuid.UUID]] = {}  # session -> (expiry, user)

    def fresh(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        entry = self._until.get(session_id)
        if entry is None:
            return False
        if entry[0] <= time.monotonic() or entry[1] != user_id:
            del self._until[session_id]
            return False
        return True

    def remember(self, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        if len(self._until) >= MAX_ENTRIES:
            self._until = {key: v for key, v in self._until.items() if v[0] > now}
            if len(self._until) >= MAX_ENTRIES:
                self._until.clear()
        self._until[session_id] = (now + self.ttl, user_id)

    def forget(self, session_ids: Iterable[uuid.UUID]) -> None:
        for session_id in session_ids:
            self._until.pop(session_id, None)


def checked_sessions(state: AppState) -> CheckedSessions:
    """This process's (one per app state)."""
    found = state.extras.get(EXTRAS_KEY)
    if not isinstance(found, CheckedSessions):
        found = state.extras[EXTRAS_KEY] = CheckedSessions(
            state.settings.session_check_cache_seconds
        )
    return found
