"""What other domains do when a member goes offline in a party: registered, not imported.

Parties never imports the domains built on it, yet some of them react to presence (voice takes an
offline member out of the room and ends their screen share). They register a callback here; the
composition root (`registry.py`, imported by the API server and the worker alike, which both
announce offline members) does the registering. `offline.announce_transition` runs each one.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchparty.state import AppState

# (state, party id, user id): the user just went offline in the party.
OfflineHook = Callable[["AppState", uuid.UUID, uuid.UUID], Awaitable[None]]

_offline_hooks: list[OfflineHook] = []


def on_member_offline(hook: OfflineHook) -> OfflineHook:
    """Run `hook` whenever a member goes offline (after parties' own reactions), in the order
    of registration. Registering the same hook again changes nothing."""
    if hook not in _offline_hooks:
        _offline_hooks.append(hook)
    return hook


def offline_hooks() -> tuple[OfflineHook, ...]:
    """The registered hooks, in order."""
    return tuple(_offline_hooks)
