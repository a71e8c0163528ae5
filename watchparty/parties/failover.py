"""Host failover when the host stays offline past a grace period.

Presence (parties/presence/, party_stream/) calls `schedule_host_failover` whenever a user
goes offline in a party (their last stream connection closed or expired). If that user hosts the
party, the job `host_failover_check` runs `host_failover_grace_seconds` later and, if the host is
still offline then, hands hosting to the longest-standing online co-host, else the
longest-standing online member (the old host stays, as a COHOST). With nobody online, nothing
changes: the party keeps its host until someone is around.

The job is idempotent (it may run twice, or after the host came back): it re-reads presence and
the party and acts only when the same user is still the host and still offline.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from watchparty.parties.hosting import fail_over_host
from watchparty.parties.models import Party, PartyStatus

if TYPE_CHECKING:
    from watchparty.state import AppState


async def schedule_host_failover(state: AppState, party_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """`user_id` just went offline in `party_id`: if they host it, check again after the grace.

    Returns whether a check was scheduled.
    """
    async with state.sessionmaker() as session:
        host_id = await session.scalar(
            select(Party.host_id).where(
                Party.id == party_id,
                Party.deleted_at.is_(None),
                Party.status != PartyStatus.ENDED,
            )
        )
    if host_id != user_id:
        return False
    await state.jobs.enqueue(
        "host_failover_check",
        defer_seconds=state.settings.host_failover_grace_seconds,
        party_id=str(party_id),
        host_id=str(user_id),
    )
    return True


async def run_host_failover(state: AppState, party_id: uuid.UUID, host_id: uuid.UUID) -> bool:
    """Fail over now if `host_id` still hosts `party_id` and is offline; True when it did."""
    from watchparty.parties.presence import get_presence

    presence = get_presence(state)
    if await presence.is_online(party_id, host_id):
        return False
    online = await presence.online_user_ids(party_id)
    async with state.unit_of_work() as uow:
        successor = await fail_over_host(uow, party_id, offline_host_id=host_id, online_ids=online)
    return successor is not None


async def host_failover_check(ctx: dict[str, Any], *, party_id: str, host_id: str) -> None:
    """Job: the grace period of an offline host is over (see the module docstring)."""
    await run_host_failover(ctx["state"], uuid.UUID(party_id), uuid.UUID(host_id))
