"""Roles and hosting: the host sets roles, hands hosting over, and hosting fails over.

Decisions (see the README):
- Only the host sets roles (COHOST / MODERATOR / MEMBER); HOST changes hands only through
  `transfer_host`, after which the old host is a COHOST.
- When the host leaves (`joining.leave_party`) or stays offline past the grace period
  (`failover`), hosting passes to the longest-standing co-host, else the longest-standing
  member; when the host leaves nobody behind, the party ends.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.events import MemberUpdated
from watchparty.parties.member_actions import announce_member, begin_member_action
from watchparty.parties.member_hooks import MemberChange, MemberChangeKind, member_changed
from watchparty.parties.models import MemberRole, MemberStatus, Party, PartyMember, PartyStatus
from watchparty.parties.service import record_party_updated

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

ASSIGNABLE_ROLES = (MemberRole.COHOST, MemberRole.MODERATOR, MemberRole.MEMBER)


async def find_successor(
    session: AsyncSession,
    party_id: uuid.UUID,
    *,
    exclude: uuid.UUID,
    online_ids: set[uuid.UUID] | None = None,
) -> PartyMember | None:
    """The longest-standing active co-host, else the longest-standing active member (among
    `online_ids` when given)."""
    rows = await session.scalars(
        select(PartyMember)
        .where(
            PartyMember.party_id == party_id,
            PartyMember.status == MemberStatus.ACTIVE,
            PartyMember.user_id != exclude,
        )
        .order_by(PartyMember.joined_at, PartyMember.id)
    )
    candidates = [m for m in rows if online_ids is None or m.user_id in online_ids]
    cohosts = [m for m in candidates if m.role is MemberRole.COHOST]
    pool = cohosts or candidates
    return pool[0] if pool else None


async def make_host(
    uow: UnitOfWork,
    party: Party,
    new_host: PartyMember,
    *,
    actor_id: uuid.UUID | None,
    handover: str,
) -> None:
    """Make `new_host` the party's host (the caller demotes or removes the old one).
    `handover` says how: TRANSFER (by `actor_id`), HOST_LEFT or HOST_AWAY (a failover)."""
    new_host.role = MemberRole.HOST
    party.host_id = new_host.user_id
    party.updated_at = utcnow()
    await uow.session.flush()
    await announce_member(uow, MemberUpdated, new_host)
    await record_party_updated(uow, party)
    change = MemberChange(
        MemberChangeKind.HOST_TRANSFERRED,
        party.id,
        party.title,
        new_host.user_id,
        actor_id,
        role=MemberRole.HOST.value,
        handover=handover,
    )
    await member_changed(uow, change)


async def transfer_host(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> tuple[Party, PartyMember, PartyMember]:
    """Host only: the target becomes HOST, the old host a COHOST."""
    action = await begin_member_action(uow, viewer_id, party_id, role=MemberRole.HOST)
    old = action.actor
    target = await action.find_active(user_id)
    if target.user_id == viewer_id:
        raise ValidationProblem("You are the host already.", field="userId")
    old.role = MemberRole.COHOST
    await action.announce(MemberUpdated, old)
    await make_host(uow, action.party, target, actor_id=viewer_id, handover="TRANSFER")
    await action.record("TRANSFER_HOST", target, details={"role": MemberRole.HOST.value})
    return action.party, old, target


async def fail_over_host(
    uow: UnitOfWork,
    party_id: uuid.UUID,
    *,
    offline_host_id: uuid.UUID,
    online_ids: set[uuid.UUID] | None = None,
) -> PartyMember | None:
    """Hand hosting over from a host who went away (still a member: becomes a COHOST).

    Idempotent: nothing happens unless `offline_host_id` is still the (active) host of a live,
    not deleted party. With `online_ids` only online members qualify (a successor who is away
    too would only be failed over again). Returns the new host, or None.
    """
    session = uow.session
    party = await session.scalar(
        select(Party).where(Party.id == party_id, Party.deleted_at.is_(None)).with_for_update()
    )
    if party is None or party.status is PartyStatus.ENDED or party.host_id != offline_host_id:
        return None
    old = await session.scalar(
        select(PartyMember).where(
            PartyMember.party_id == party_id, PartyMember.user_id == offline_host_id
        )
    )
    successor = await find_successor(
        session, party_id, exclude=offline_host_id, online_ids=online_ids
    )
    if successor is None:
        return None  # nobody to hand over to: the host keeps the party
    if old is not None and old.status is MemberStatus.ACTIVE:
        old.role = MemberRole.COHOST
        await announce_member(uow, MemberUpdated, old)
    await make_host(uow, party, successor, actor_id=None, handover="HOST_AWAY")
    return successor


async def set_member_role(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str, role: MemberRole
) -> PartyMember:
    action = await begin_member_action(uow, viewer_id, party_id, role=MemberRole.HOST)
    if role not in ASSIGNABLE_ROLES:
        raise ValidationProblem("Use transferHost to hand over hosting.", field="role")
    target = await action.find_active(user_id)
    if target.user_id == viewer_id:
        raise ValidationProblem("The host's role changes only with transferHost.", field="userId")
    if target.role is not role:
        previous, target.role = target.role, role
        await action.record(
            "SET_ROLE", target, details={"role": role.value, "previousRole": previous.value}
        )
        await action.announce(MemberUpdated, target)
        party = action.party
        change = MemberChange(
            MemberChangeKind.ROLE_CHANGED,
            party.id,
            party.title,
            target.user_id,
            viewer_id,
            role=role.value,
        )
        await member_changed(uow, change)
    return target
