"""Voice room presence and screen sharing: the rules. No GraphQL; nothing is stored in the database.

Who may: active members of the party (any role). A PRIVATE party is NotFound for everybody else,
a visible one NotAllowed. Being online (holding the party stream) is not required; a member who
goes offline (their last stream closed, or their process died) leaves voice and stops sharing
(`member_offline`, called by `parties.presence`).

Events (ephemeral, on the party channel) are published only for real transitions, after the
store changed: `VoiceStateChanged { userId inVoice muted speaking }`,
`ScreenShareChanged { userId active }`. They go out at once, not after the commit: the
voice store is not part of the transaction (the unit of work only reads the membership).

Services take the unit of work first, then the acting user's id (`watchparty.db`).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import PlanLimit
from watchparty.events import publish
from watchparty.kit.ratelimit import Limit
from watchparty.kit.redis_guard import UNAVAILABLE
from watchparty.parties.authz import PartyAccess, load_party, require_member, require_not_ended
from watchparty.parties.events import party_channel
from watchparty.parties.models import MemberStatus, PartyMember
from watchparty.parties.plan_limits import plan_of
from watchparty.voice.errors import NotInVoice, ScreenShareLimitReached
from watchparty.voice.events import ScreenShareChanged, VoiceStateChanged
from watchparty.voice.store import ScreenShare, ShareOutcome, VoiceState, get_voice_store

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork
    from watchparty.state import AppState

log = logging.getLogger(__name__)


async def member_access(
    session: AsyncSession, raw_party_id: str | uuid.UUID, user_id: uuid.UUID
) -> PartyAccess:
    """The party, when `user_id` is an active member (NotFound / NotAllowed otherwise)."""
    access = await load_party(session, raw_party_id, user_id)
    require_member(access)
    return access


async def active_member_ids(
    session: AsyncSession, party_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(PartyMember.user_id).where(
            PartyMember.party_id == party_id,
            PartyMember.user_id.in_(user_ids),
            PartyMember.status == MemberStatus.ACTIVE,
        )
    )
    return set(rows)


def _now_ms() -> int:
    from watchparty.kit.time import epoch_ms

    return int(epoch_ms())


async def publish_voice_state(
    state: AppState, party_id: uuid.UUID, user_id: uuid.UUID, voice: VoiceState | None
) -> None:
    """`voice` None: the user left the room."""
    await publish(
        state.hub,
        party_channel(party_id),
        VoiceStateChanged(
            user_id=str(user_id),
            in_voice=voice is not None,
            muted=voice is not None and voice.muted,
            speaking=voice is not None and voice.speaking,
        ),
    )


async def publish_share(
    state: AppState, party_id: uuid.UUID, user_id: uuid.UUID, active: bool
) -> None:
    await publish(
        state.hub, party_channel(party_id), ScreenShareChanged(user_id=str(user_id), active=active)
    )


# -- voice --------------------------------------------------------------------------------------


async def join_voice(
    uow: UnitOfWork, viewer_id: uuid.UUID, raw_party_id: str
) -> tuple[uuid.UUID, VoiceState]:
    """Enter the voice room (unmuted, not speaking); joining again changes nothing."""
    access = await member_access(uow.session, raw_party_id, viewer_id)
    party_id = access.party.id
    require_not_ended(access.party)
    state = uow.app
    change = await get_voice_store(state).join(
        party_id, VoiceState(viewer_id, muted=False, speaking=False, joined_ms=_now_ms())
    )
    if change.changed:
        await publish_voice_state(state, party_id, viewer_id, change.state)
    return party_id, change.state


async def leave_voice(uow: UnitOfWork, viewer_id: uuid.UUID, raw_party_id: str) -> uuid.UUID:
    """Leave the voice room; leaving when not in it is a no-op."""
    access = await member_access(uow.session, raw_party_id, viewer_id)
    party_id = access.party.id
    state = uow.app
    if await get_voice_store(state).leave(party_id, viewer_id):
        await publish_voice_state(state, party_id, viewer_id, None)
    return party_id


async def set_voice_state(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    raw_party_id: str,
    muted: bool | None,
    speaking: bool | None,
) -> tuple[uuid.UUID, VoiceState]:
    """Change muted / speaking (omitted: unchanged; muted forces speaking off).

    Every call counts against `rate_limit_signals` (per member and party, its own key), and only
    a real change fans out: a client repeating the same value publishes nothing.
    """
    access = await member_access(uow.session, raw_party_id, viewer_id)
    party_id = access.party.id
    require_not_ended(access.party)
    state = uow.app
    limit = Limit.parse(state.settings.rate_limit_signals)
    await state.limiter.hit(f"voice-state:{party_id}:{viewer_id}", limit)
    change = await get_voice_store(state).update(party_id, viewer_id, muted, speaking)
    if change is None:
        raise NotInVoice()
    if change.changed:
        await publish_voice_state(state, party_id, viewer_id, change.state)
    return party_id, change.state


# -- screen share -------------------------------------------------------------------------------


async def start_screen_share(
    uow: UnitOfWork, viewer_id: uuid.UUID, raw_party_id: str
) -> tuple[uuid.UUID, ScreenShare]:
    """Start sharing, within the party's `max_screen_shares` (`ScreenShareLimitReached`) and its
    host's plan (`PlanLimitExceeded` when the plan allows fewer); starting again changes nothing.

    When the party is full, sharers who are no longer active members (they left without holding
    a stream, so presence never reported them offline) are dropped and the start is tried once
    more.
    """
    access = await member_access(uow.session, raw_party_id, viewer_id)
    party = access.party
    require_not_ended(party)
    state = uow.app
    store = get_voice_store(state)
    limit = party.max_screen_shares
    # The host's plan may allow fewer than the setting (after a downgrade or a transfer).
    plan = await plan_of(uow.session, state.settings, party.host_id)
    allowed = limit if plan is None else min(limit, plan.allows(PlanLimit.SCREEN_SHARES))
    for attempt in range(2):
        outcome, share = await store.start_share(party.id, viewer_id, _now_ms(), allowed)
        if share is not None:
            if outcome == ShareOutcome.STARTED:
                await publish_share(state, party.id, viewer_id, True)
            return party.id, share
        if attempt == 0 and not await _drop_stale_shares(uow, party.id):
            break
    if plan is not None and allowed < limit:
        raise plan.refuse(PlanLimit.SCREEN_SHARES, allowed + 1, host=party.host_id != viewer_id)
    raise ScreenShareLimitReached(limit)


async def _drop_stale_shares(uow: UnitOfWork, party_id: uuid.UUID) -> int:
    state = uow.app
    store = get_voice_store(state)
    sharers = [share.user_id for share in await store.shares(party_id)]
    members = await active_member_ids(uow.session, party_id, sharers)
    dropped = 0
    for stale in (user for user in sharers if user not in members):
        if await store.stop_share(party_id, stale):
            dropped += 1
            await publish_share(state, party_id, stale, False)
    return dropped


async def stop_screen_share(uow: UnitOfWork, viewer_id: uuid.UUID, raw_party_id: str) -> uuid.UUID:
    """Stop sharing; stopping when not sharing is a no-op."""
    access = await member_access(uow.session, raw_party_id, viewer_id)
    party_id = access.party.id
    state = uow.app
    if await get_voice_store(state).stop_share(party_id, viewer_id):
        await publish_share(state, party_id, viewer_id, False)
    return party_id


# -- offline, and reads -------------------------------------------------------------------------


async def member_offline(state: AppState, party_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """A member went offline (presence): they leave voice and stop sharing.

    A presence hook (`parties.presence.hooks`), called with the process's state: it checks no
    membership and touches no database row, so it opens no unit of work."""
    store = get_voice_store(state)
    if await store.leave(party_id, user_id):
        await publish_voice_state(state, party_id, user_id, None)
    if await store.stop_share(party_id, user_id):
        await publish_share(state, party_id, user_id, False)


async def voice_participants(
    state: AppState, party_id: uuid.UUID, *, active: set[uuid.UUID] | None = None
) -> list[VoiceState]:
    """The room, oldest first; with `active`, only those users (the party's active members).

    Reads answer an empty room while Redis is unavailable (like presence: a party query must not
    fail for it); the mutations answer ServiceUnavailable."""
    try:
        found = await get_voice_store(state).participants(party_id)
    except UNAVAILABLE:
        log.warning("voice rooms unavailable: reporting an empty room")
        return []
    return found if active is None else [v for v in found if v.user_id in active]


async def screen_shares(
    state: AppState, party_id: uuid.UUID, *, active: set[uuid.UUID] | None = None
) -> list[ScreenShare]:
    try:
        found = await get_voice_store(state).shares(party_id)
    except UNAVAILABLE:
        log.warning("voice rooms unavailable: reporting no screen shares")
        return []
    return found if active is None else [s for s in found if s.user_id in active]
