"""Chat moderation: who may post (mutes, slow mode), muting, slow mode and hiding messages. Every
action lands in the party's moderation log (`parties.moderation_log`).

Services take the unit of work first, then the acting user's id (`watchparty.db`); they flush,
never commit, and record what is news for the party stream in the same unit.

Decisions (see the README):
- Moderation needs MODERATOR or above and reaches strictly lower roles only (`can_act_on`):
  a moderator never mutes a co-host or hides a co-host's message, and nobody acts on themself.
- A mute is kept per (party, user), so leaving and rejoining does not lift it. `until` null
  mutes until `unmuteMember`; otherwise it must lie in the future, at most a year ahead.
- Slow mode: a member waits `slowModeSeconds` after their previous message (deleted ones
  count too, so deleting does not reset the wait); moderators and above are exempt.
- Hiding keeps the message (body null in every read, `hidden: true`); the log keeps the hidden
  text for moderators until the message is deleted.
- Every action is logged with actor, target, reason and (mutes, bans) `until`.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.chat.errors import Muted
from watchparty.chat.events import MessageUpdated
from watchparty.chat.models import ChatMessage
from watchparty.chat.moderation_models import PartyMute
from watchparty.chat.payloads import full_payload
from watchparty.errors import NotAllowed, NotFound, RateLimited, ValidationProblem
from watchparty.events import record
from watchparty.kit.time import utcnow
from watchparty.parties.authz import (
    PartyAccess,
    can_act_on,
    load_party,
    parse_id,
    require_not_ended,
    require_role,
)
from watchparty.parties.events import party_channel
from watchparty.parties.models import MemberRole, MemberStatus, ModerationAction, Party, PartyMember
from watchparty.parties.moderation_log import clean_reason, record_action
from watchparty.parties.service import record_party_updated
from watchparty.parties.validation import check_slow_mode

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_MUTE = timedelta(days=365)
MESSAGE_NOT_FOUND = "Message not found."
NOT_MEMBER = "This user is not a member of the party."


# -- the contract with chat.service ------------------------------------------------------------


async def check_can_post(session: AsyncSession, access: PartyAccess, now: datetime) -> None:
    """Raise `Muted(until)` for a mute in force, `RateLimited` while slow mode makes the
    viewer wait. Call it after the membership and chat-enabled checks."""
    member = access.member
    if member is None:
        return
    mute = await mute_in_force(session, member.party_id, member.user_id, now)
    if mute is not None:
        raise Muted(mute.until)
    slow = access.party.slow_mode_seconds
    if slow <= 0 or access.at_least(MemberRole.MODERATOR):
        return
    last = await session.scalar(
        select(func.max(ChatMessage.created_at)).where(
            ChatMessage.party_id == member.party_id, ChatMessage.author_id == member.user_id
        )
    )
    if last is None:
        return
    remaining = slow - (now - last).total_seconds()
    if remaining > 0:
        wait = min(slow, max(1, math.ceil(remaining)))  # capped: clocks of processes differ
        raise RateLimited(wait, f"Slow mode is on: wait {wait} seconds before posting again.")


# -- helpers -----------------------------------------------------------------------------------


async def mute_in_force(
    session: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> PartyMute | None:
    mute = await session.scalar(
        select(PartyMute).where(PartyMute.party_id == party_id, PartyMute.user_id == user_id)
    )
    if mute is None or (mute.until is not None and mute.until <= now):
        return None
    return mute


async def _membership(
    session: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID | None
) -> PartyMember | None:
    if user_id is None:
        return None
    return await session.scalar(
        select(PartyMember).where(PartyMember.party_id == party_id, PartyMember.user_id == user_id)
    )


def _blocker(actor: PartyMember, target: PartyMember | None) -> str | None:
    """Why `actor` may not act on `target`: "self", the target's (equal or higher) role in
    lower case, or None. Former members count as members (their role is MEMBER again)."""
    if target is None:
        return None
    if target.user_id == actor.user_id:
        return "self"
    if target.status is MemberStatus.ACTIVE and not can_act_on(actor.role, target.role):
        return target.role.value.lower()
    return None


# -- mutes -------------------------------------------------------------------------------------


async def _member_target(session: AsyncSession, access: PartyAccess, user_id: str) -> PartyMember:
    row = await _membership(session, access.party.id, parse_id(user_id))
    if row is None or row.status is not MemberStatus.ACTIVE:
        raise NotFound(NOT_MEMBER, field="userId")
    return row


async def mute_member(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    until: datetime | None,
    reason: str | None,
) -> PartyMute:
    """Mute an active member of a lower role (again: replaces the previous mute)."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    actor = require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    now = utcnow()
    if until is not None and until <= now:
        raise ValidationProblem(
            "Give a time in the future, or null to mute until unmuted.", field="until"
        )
    if until is not None and until > now + MAX_MUTE:
        raise ValidationProblem("A mute lasts at most a year (or use null).", field="until")
    reason = clean_reason(reason)
    target = await _member_target(session, access, user_id)
    blocker = _blocker(actor, target)
    if blocker == "self":
        raise NotAllowed("You cannot mute yourself.", field="userId")
    if blocker is not None:
        raise NotAllowed(f"You cannot mute a {blocker}.", field="userId")
    mute = await session.scalar(
        select(PartyMute).where(
            PartyMute.party_id == access.party.id, PartyMute.user_id == target.user_id
        )
    )
    if mute is None:
        mute = PartyMute(id=uuid.uuid4(), party_id=access.party.id, user_id=target.user_id)
        session.add(mute)
    mute.muted_by_id, mute.until, mute.reason, mute.created_at = viewer_id, until, reason, now
    await session.flush()
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action=ModerationAction.MUTE,
        target_user_id=target.user_id,
        reason=reason,
        until=until,
    )
    return mute


async def unmute_member(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str, reason: str | None
) -> tuple[uuid.UUID, uuid.UUID]:
    """Lift a mute in force (member or not); returns (party id, user id)."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    actor = require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    reason = clean_reason(reason)
    uid = parse_id(user_id)
    mute = None if uid is None else await mute_in_force(session, access.party.id, uid, utcnow())
    if mute is None:
        raise NotFound("This user is not muted in this party.", field="userId")
    blocker = _blocker(actor, await _membership(session, access.party.id, mute.user_id))
    if blocker == "self":
        raise NotAllowed("You cannot unmute yourself.", field="userId")
    if blocker is not None:
        raise NotAllowed(f"You cannot unmute a {blocker}.", field="userId")
    await session.delete(mute)
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action=ModerationAction.UNMUTE,
        target_user_id=mute.user_id,
        reason=reason,
    )
    return access.party.id, mute.user_id


async def mutes_in_force(
    session: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> list[PartyMute]:
    """Mutes in force in the party (of one user when given), newest first, at most 100."""
    now = utcnow()
    query = select(PartyMute).where(
        PartyMute.party_id == party_id, or_(PartyMute.until.is_(None), PartyMute.until > now)
    )
    if user_id is not None:
        query = query.where(PartyMute.user_id == user_id)
    query = query.order_by(PartyMute.created_at.desc(), PartyMute.id.desc()).limit(100)
    return list(await session.scalars(query))


# -- slow mode ---------------------------------------------------------------------------------


async def set_slow_mode(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, seconds: int
) -> Party:
    """Moderators and above; 0..3600 seconds (0: off). Unchanged: no event, no log entry."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.MODERATOR)
    party = access.party
    require_not_ended(party)
    seconds = check_slow_mode(seconds)
    previous = party.slow_mode_seconds
    if seconds != previous:
        party.slow_mode_seconds = seconds
        party.updated_at = utcnow()
        await session.flush()
        await record_action(
            session,
            party_id=party.id,
            actor_id=viewer_id,
            action=ModerationAction.SLOW_MODE,
            details={"seconds": seconds, "previousSeconds": previous},
        )
        await record_party_updated(uow, party)
    return party


# -- hiding messages ---------------------------------------------------------------------------


async def load_message(
    session: AsyncSession, raw_id: str, viewer_id: uuid.UUID
) -> tuple[ChatMessage, PartyAccess]:
    """A message (locked for update) and the viewer's access to its party; NotFound when either
    is invisible."""
    message_id = parse_id(raw_id)
    message = None
    if message_id is not None:
        message = await session.scalar(
            select(ChatMessage).where(ChatMessage.id == message_id).with_for_update()
        )
    if message is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    try:
        access = await load_party(session, message.party_id, viewer_id)
    except NotFound:
        raise NotFound(MESSAGE_NOT_FOUND) from None
    return message, access


async def set_message_hidden(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    message_id: str,
    hidden: bool,
    reason: str | None = None,
) -> dict[str, Any]:
    """Hide (or unhide) a message of a lower role; returns the message's payload (see
    `chat.payloads.message_payload`). Hiding a hidden message (or unhiding a visible one)
    changes nothing, publishes and logs nothing."""
    session = uow.session
    message, access = await load_message(session, message_id, viewer_id)
    actor = require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    reason = clean_reason(reason)
    if message.deleted_at is not None:
        raise NotFound(MESSAGE_NOT_FOUND)  # deleted is gone, as for every chat operation
    verb = "hide" if hidden else "unhide"
    blocker = _blocker(actor, await _membership(session, message.party_id, message.author_id))
    if blocker == "self":
        raise NotAllowed(f"You cannot {verb} your own message.", field="messageId")
    if blocker is not None:
        raise NotAllowed(f"You cannot {verb} a message of a {blocker}.", field="messageId")
    if (message.hidden_at is not None) == hidden:
        return await full_payload(session, message)
    now = utcnow()
    message.hidden_at = now if hidden else None
    message.hidden_by_id = viewer_id if hidden else None
    message.hidden_reason = reason if hidden else None
    await session.flush()
    await record_action(
        session,
        party_id=message.party_id,
        actor_id=viewer_id,
        action=ModerationAction.HIDE_MESSAGE if hidden else ModerationAction.UNHIDE_MESSAGE,
        target_user_id=message.author_id,
        target_message_id=message.id,
        reason=reason,
        body_snapshot=message.body if hidden else None,
    )
    payload = await full_payload(session, message)
    await record(uow, party_channel(message.party_id), MessageUpdated(message=payload))
    return payload
