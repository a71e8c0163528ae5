"""What a presence transition sets off, and the sweeper that finds users whose process died.

Going offline in a party starts the host failover grace period, releases the member from the
buffering wait, then runs what other domains registered (`hooks.on_member_offline`: voice removes
the member from the room); each of those is best effort (logged, never raised), so one failing
does not keep the others or the stream from going on.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from watchparty import tracking
from watchparty.parties.failover import schedule_host_failover
from watchparty.parties.presence.batcher import get_batcher
from watchparty.parties.presence.factory import get_presence
from watchparty.parties.presence.hooks import offline_hooks

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)


async def announce_transition(
    state: AppState, party_id: uuid.UUID, user_id: uuid.UUID, online: bool
) -> None:
    """Announce a transition (in the party's next coalesced `PresenceChanged`, `batcher`); an
    offline host also starts the failover grace period."""
    # A real cycle: playback_reports -> playback -> presence.
    from watchparty.parties.playback_reports import release_member

    get_batcher(state).note(party_id, user_id, online)
    name = "party.online" if online else "party.offline"  # concurrent viewers (analytics)
    await tracking.emit(state, [tracking.Tracked(name, user_id=user_id, party_id=party_id)])
    if not online:
        try:
            await schedule_host_failover(state, party_id, user_id)
        except Exception:
            log.warning("host failover not scheduled", exc_info=True)
        try:  # a member who disconnects stops counting for the buffering wait (SYNC.md)
            await release_member(state, party_id, user_id)
        except Exception:
            log.warning("offline member not released from the wait", exc_info=True)
        for hook in offline_hooks():  # e.g. voice: the member leaves the room, stops sharing
            try:
                await hook(state, party_id, user_id)
            except Exception:
                log.warning(
                    "offline member: %s.%s failed",
                    hook.__module__,
                    hook.__qualname__,
                    exc_info=True,
                )


async def sweep_presence(ctx: dict[str, Any]) -> int:
    """Periodic job: report users whose connections all expired (their process died) offline.

    Idempotent and safe to run in several processes at once: each expiry is reported once (the
    Redis script that removes it decides). Returns how many users went offline.
    """
    state: AppState = ctx["state"]
    departures = await get_presence(state).sweep()
    for departure in departures:
        await announce_transition(state, departure.party_id, departure.user_id, online=False)
    return len(departures)
