"""Moderation of members: kick, ban and unban.

Each needs MODERATOR or above and reaches strictly lower roles only (never oneself). A kick or a
ban ends the target's party stream (`MembershipRevoked`); a ban also reaches somebody who never
joined, and blocks joining until it expires. Every action is written to the party's moderation
log with its reason (`member_actions.MemberAction.record`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from watchparty.errors import NotAllowed, NotFound, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.authz import can_act_on
from watchparty.parties.member_actions import NOT_A_MEMBER, MemberAction, begin_member_action
from watchparty.parties.member_hooks import MemberChange, MemberChangeKind, member_changed
from watchparty.parties.models import MemberRole, MemberStatus, PartyMember
from watchparty.parties.service import get_user

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


def _check_reach(actor: PartyMember, target: PartyMember | None, verb: str) -> None:
    if target is not None and target.user_id == actor.user_id:
        raise NotAllowed(f"You cannot {verb} yourself.", field="userId")
    if (
        target is not None
        and target.status is MemberStatus.ACTIVE
        and not can_act_on(actor.role, target.role)
    ):
        raise NotAllowed(f"You cannot {verb} a {target.role.value.lower()}.", field="userId")


async def kick_member(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    reason: str | None = None,
) -> uuid.UUID:
    action = await begin_member_action(
        uow, viewer_id, party_id, role=MemberRole.MODERATOR, reason=reason
    )
    target = await action.find(user_id)
    _check_reach(action.actor, target, "kick")
    if target is None or target.status is not MemberStatus.ACTIVE:
        raise NotFound(NOT_A_MEMBER, field="userId")
    target.status, target.role, target.left_at = MemberStatus.KICKED, MemberRole.MEMBER, utcnow()
    await action.record("KICK", target)
    await action.revoke(target, "KICKED")
    await action.announce_left(target)
    await _removed(action, MemberChangeKind.KICKED, target)
    return target.user_id


async def ban_member(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    until: datetime | None,
    reason: str | None = None,
) -> PartyMember:
    """Ban a member, a pending requester or anyone else (until None: for good)."""
    action = await begin_member_action(
        uow, viewer_id, party_id, role=MemberRole.MODERATOR, reason=reason
    )
    now = utcnow()
    if until is not None and until <= now:
        raise ValidationProblem(
            "Give a time in the future, or null for a permanent ban.", field="until"
        )
    target = await action.find(user_id)
    _check_reach(action.actor, target, "ban")
    if target is None:
        user = await get_user(uow.session, uuid.UUID(str(user_id))) if _is_uuid(user_id) else None
        if user is None:
            raise NotFound("User not found.", field="userId")
        target = PartyMember(party_id=action.party.id, user_id=user.id, joined_at=now)
        uow.session.add(target)
    was_in = target.status in (MemberStatus.ACTIVE, MemberStatus.PENDING)
    target.status, target.role = MemberStatus.BANNED, MemberRole.MEMBER
    target.banned_until = until
    if was_in:
        target.left_at = now
    await action.record("BAN", target, until=until)
    # Also ends the stream of a signed-in viewer of a PUBLIC party who is not a member.
    await action.revoke(target, "BANNED")
    if was_in:
        await action.announce_left(target)
        await _removed(action, MemberChangeKind.BANNED, target)
    return target


async def _removed(action: MemberAction, kind: MemberChangeKind, target: PartyMember) -> None:
    party = action.party
    change = MemberChange(kind, party.id, party.title, target.user_id, action.actor.user_id)
    await member_changed(action.uow, change)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def unban_member(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    reason: str | None = None,
) -> PartyMember:
    action = await begin_member_action(
        uow, viewer_id, party_id, role=MemberRole.MODERATOR, reason=reason
    )
    target = await action.find(user_id)
    if target is None or target.status is not MemberStatus.BANNED:
        raise NotFound("This user is not banned from the party.", field="userId")
    target.status, target.banned_until = MemberStatus.LEFT, None
    await action.record("UNBAN", target)
    return target
