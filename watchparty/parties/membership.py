"""Membership: joining (by id, code or invite), approval, leaving, roles, moderation, failover.

Every function locks the party row first (`load_party(..., for_update=True)` on PostgreSQL), so
capacity checks and host changes of one party never interleave.

Decisions (see the README):
- PUBLIC parties can be joined by id; UNLISTED and PRIVATE ones need the code or an invite
  (by id: NotAllowed for UNLISTED, NotFound for PRIVATE, which a stranger cannot see).
- With `requireApproval`, joining by id or code leaves a PENDING request (`JoinPending`);
  an invite link skips approval (whoever made it vouched). Pending requests do not count
  toward `maxMembers`; approval checks capacity again.
- Joining again after leaving or being kicked works; a ban blocks until it expires.
- Roles: only the host sets roles (COHOST / MODERATOR / MEMBER; HOST only via transferHost,
  after which the old host is a COHOST). Moderation (kick, ban, unban, approve, reject) needs
  MODERATOR or above and reaches strictly lower roles only.
- When the host leaves (or stays offline past the grace period), hosting passes to the
  longest-standing co-host, else the longest-standing member; when the host leaves nobody
  behind, the party ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.chat.moderation import clean_reason, record_action
from watchparty.errors import NotAllowed, NotFound, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.authz import (
    PARTY_NOT_FOUND,
    PartyAccess,
    can_act_on,
    is_banned,
    load_party,
    require_member,
    require_not_ended,
    require_role,
)
from watchparty.parties.errors import Banned, PartyFull
from watchparty.parties.invites import claim_invite, find_invite
from watchparty.parties.models import (
    MemberRole,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
)
from watchparty.parties.service import (
    Outbox,
    active_member_count,
    get_user,
    mark_ended,
    member_event_payload,
    party_by_code,
    party_event_payload,
)

ASSIGNABLE_ROLES = (MemberRole.COHOST, MemberRole.MODERATOR, MemberRole.MEMBER)


@dataclass
class JoinResult:
    party: Party
    member: PartyMember

    @property
    def pending(self) -> bool:
        return self.member.status is MemberStatus.PENDING


async def _target(session: AsyncSession, party_id: uuid.UUID, user_id: str) -> PartyMember | None:
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        return None
    return await session.scalar(
        select(PartyMember).where(PartyMember.party_id == party_id, PartyMember.user_id == uid)
    )


async def _active_target(access: PartyAccess, session: AsyncSession, user_id: str) -> PartyMember:
    row = await _target(session, access.party.id, user_id)
    if row is None or row.status is not MemberStatus.ACTIVE:
        raise NotFound("This user is not a member of the party.", field="userId")
    return row


async def _member_event(session: AsyncSession, outbox: Outbox, kind: str, row: PartyMember) -> None:
    outbox.add(row.party_id, {"type": kind, "member": await member_event_payload(session, row)})


# -- joining -----------------------------------------------------------------------------------


async def join_party(
    session: AsyncSession,
    outbox: Outbox,
    viewer_id: uuid.UUID,
    *,
    party_id: str | None = None,
    code: str | None = None,
    invite_token: str | None = None,
) -> JoinResult:
    given = [v for v in (party_id, code, invite_token) if v is not None]
    if len(given) != 1:
        raise ValidationProblem("Give exactly one of partyId, code or inviteToken.")
    invite = None
    if invite_token is not None:
        invite = await find_invite(session, invite_token)
        ref: str | uuid.UUID = invite.party_id
    elif code is not None:
        ref = (await party_by_code(session, code)).id
    else:
        assert party_id is not None
        ref = party_id
    # The code or invite makes the party reachable whatever its visibility.
    try:
        access = await load_party(session, ref, viewer_id, for_update=True)
    except NotFound:
        if party_id is not None:
            raise
        access = await _load_reachable(session, ref, viewer_id)
    party = access.party
    row = access.row
    if row is not None and row.status is MemberStatus.ACTIVE:
        return JoinResult(party, row)  # already in: nothing to do
    if party_id is not None and party.visibility is not PartyVisibility.PUBLIC:
        raise NotAllowed("This party is joined with its code or an invite link.", field="partyId")
    now = utcnow()
    if is_banned(row):
        assert row is not None
        raise Banned(row.banned_until)
    require_not_ended(party)
    approval = party.require_approval and invite is None
    if approval and row is not None and row.status is MemberStatus.PENDING:
        return JoinResult(party, row)  # asked already
    if not approval and await active_member_count(session, party.id) >= party.max_members:
        raise PartyFull(party.max_members)
    if invite is not None:
        await claim_invite(session, invite)
    status = MemberStatus.PENDING if approval else MemberStatus.ACTIVE
    if row is None:
        row = PartyMember(party_id=party.id, user_id=viewer_id)
        session.add(row)
    row.role = MemberRole.MEMBER
    row.status = status
    row.joined_at = now
    row.left_at = None
    row.banned_until = None
    row.ignore_wait = False
    await session.flush()
    # A pending request reaches moderators as MemberUpdated with status PENDING.
    await _member_event(session, outbox, "MemberUpdated" if approval else "MemberJoined", row)
    return JoinResult(party, row)


async def _load_reachable(
    session: AsyncSession, party_id: str | uuid.UUID, viewer_id: uuid.UUID
) -> PartyAccess:
    """A party reached by code or invite, visible or not (deleted ones stay NotFound)."""
    party = await session.scalar(
        select(Party).where(Party.id == party_id, Party.deleted_at.is_(None)).with_for_update()
    )
    if party is None:
        raise NotFound(PARTY_NOT_FOUND)
    row = await session.scalar(
        select(PartyMember).where(
            PartyMember.party_id == party.id, PartyMember.user_id == viewer_id
        )
    )
    member = row if row is not None and row.status is MemberStatus.ACTIVE else None
    return PartyAccess(party=party, member=member, row=row)


async def _pending_request(
    session: AsyncSession, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> tuple[PartyAccess, PartyMember]:
    """The party (locked) and `user_id`'s pending join request, for a moderator or above."""
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.MODERATOR)
    row = await _target(session, access.party.id, user_id)
    if row is None or row.status is not MemberStatus.PENDING:
        raise NotFound("No pending request from this user.", field="userId")
    return access, row


async def approve_member(
    session: AsyncSession, outbox: Outbox, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> PartyMember:
    access, row = await _pending_request(session, viewer_id, party_id, user_id)
    party = access.party
    require_not_ended(party)
    if await active_member_count(session, party.id) >= party.max_members:
        raise PartyFull(party.max_members)
    row.status = MemberStatus.ACTIVE
    row.joined_at = utcnow()
    await session.flush()
    await record_action(
        session, party_id=party.id, actor_id=viewer_id, action="APPROVE", target_user_id=row.user_id
    )
    await _member_event(session, outbox, "MemberJoined", row)
    return row


async def reject_member(
    session: AsyncSession, outbox: Outbox, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> PartyMember:
    access, row = await _pending_request(session, viewer_id, party_id, user_id)
    require_not_ended(access.party)
    row.status = MemberStatus.LEFT
    row.left_at = utcnow()
    await session.flush()
    await record_action(
        session,
        party_id=row.party_id,
        actor_id=viewer_id,
        action="REJECT",
        target_user_id=row.user_id,
    )
    outbox.add(row.party_id, {"type": "MemberLeft", "userId": str(row.user_id)})
    return row


# -- leaving and hosting -----------------------------------------------------------------------


async def leave_party(
    session: AsyncSession, outbox: Outbox, viewer_id: uuid.UUID, party_id: str
) -> uuid.UUID:
    """Leave (or withdraw a pending request). A leaving host hands over or ends the party."""
    access = await load_party(session, party_id, viewer_id, for_update=True)
    row = access.row
    if row is not None and row.status is MemberStatus.PENDING:
        row.status, row.left_at = MemberStatus.LEFT, utcnow()
        await session.flush()
        outbox.add(row.party_id, {"type": "MemberLeft", "userId": str(row.user_id)})
        return access.party.id
    member = require_member(access)
    was_host = member.role is MemberRole.HOST
    member.status, member.role, member.left_at = MemberStatus.LEFT, MemberRole.MEMBER, utcnow()
    await session.flush()
    outbox.add(member.party_id, {"type": "MemberLeft", "userId": str(member.user_id)})
    if was_host:
        successor = await _successor(session, access.party.id, exclude=member.user_id)
        if successor is None:
            if access.party.status is not PartyStatus.ENDED:
                await mark_ended(session, outbox, access.party)
        else:
            await _make_host(session, outbox, access.party, successor)
    return access.party.id


async def _successor(
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


async def _make_host(
    session: AsyncSession, outbox: Outbox, party: Party, new_host: PartyMember
) -> None:
    new_host.role = MemberRole.HOST
    party.host_id = new_host.user_id
    party.updated_at = utcnow()
    await session.flush()
    await _member_event(session, outbox, "MemberUpdated", new_host)
    outbox.add(
        party.id, {"type": "PartyUpdated", "party": await party_event_payload(session, party)}
    )


async def transfer_host(
    session: AsyncSession, outbox: Outbox, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> tuple[Party, PartyMember, PartyMember]:
    """Host only: the target becomes HOST, the old host a COHOST."""
    access = await load_party(session, party_id, viewer_id, for_update=True)
    old = require_role(access, MemberRole.HOST)
    require_not_ended(access.party)
    target = await _active_target(access, session, user_id)
    if target.user_id == viewer_id:
        raise ValidationProblem("You are the host already.", field="userId")
    old.role = MemberRole.COHOST
    await _member_event(session, outbox, "MemberUpdated", old)
    await _make_host(session, outbox, access.party, target)
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action="TRANSFER_HOST",
        target_user_id=target.user_id,
        details={"role": MemberRole.HOST.value},
    )
    return access.party, old, target


async def fail_over_host(
    session: AsyncSession,
    outbox: Outbox,
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
    successor = await _successor(session, party_id, exclude=offline_host_id, online_ids=online_ids)
    if successor is None:
        return None  # nobody to hand over to: the host keeps the party
    if old is not None and old.status is MemberStatus.ACTIVE:
        old.role = MemberRole.COHOST
        await _member_event(session, outbox, "MemberUpdated", old)
    await _make_host(session, outbox, party, successor)
    return successor


async def set_member_role(
    session: AsyncSession,
    outbox: Outbox,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    role: MemberRole,
) -> PartyMember:
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.HOST)
    require_not_ended(access.party)
    if role not in ASSIGNABLE_ROLES:
        raise ValidationProblem("Use transferHost to hand over hosting.", field="role")
    target = await _active_target(access, session, user_id)
    if target.user_id == viewer_id:
        raise ValidationProblem("The host's role changes only with transferHost.", field="userId")
    if target.role is not role:
        previous, target.role = target.role, role
        await session.flush()
        await record_action(
            session,
            party_id=access.party.id,
            actor_id=viewer_id,
            action="SET_ROLE",
            target_user_id=target.user_id,
            details={"role": role.value, "previousRole": previous.value},
        )
        await _member_event(session, outbox, "MemberUpdated", target)
    return target


# -- moderation --------------------------------------------------------------------------------


def _check_reach(
    access: PartyAccess, actor: PartyMember, target: PartyMember | None, verb: str
) -> None:
    if target is not None and target.user_id == actor.user_id:
        raise NotAllowed(f"You cannot {verb} yourself.", field="userId")
    if (
        target is not None
        and target.status is MemberStatus.ACTIVE
        and not can_act_on(actor.role, target.role)
    ):
        raise NotAllowed(f"You cannot {verb} a {target.role.value.lower()}.", field="userId")


async def kick_member(
    session: AsyncSession,
    outbox: Outbox,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    reason: str | None = None,
) -> uuid.UUID:
    access = await load_party(session, party_id, viewer_id, for_update=True)
    actor = require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    reason = clean_reason(reason)
    target = await _target(session, access.party.id, user_id)
    _check_reach(access, actor, target, "kick")
    if target is None or target.status is not MemberStatus.ACTIVE:
        raise NotFound("This user is not a member of the party.", field="userId")
    target.status, target.role, target.left_at = MemberStatus.KICKED, MemberRole.MEMBER, utcnow()
    await session.flush()
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action="KICK",
        target_user_id=target.user_id,
        reason=reason,
    )
    uid = str(target.user_id)
    outbox.add(target.party_id, {"type": "MembershipRevoked", "userId": uid, "reason": "KICKED"})
    outbox.add(target.party_id, {"type": "MemberLeft", "userId": uid})
    return target.user_id


async def ban_member(
    session: AsyncSession,
    outbox: Outbox,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    until: datetime | None,
    reason: str | None = None,
) -> PartyMember:
    """Ban a member, a pending requester or anyone else (until None: for good)."""
    access = await load_party(session, party_id, viewer_id, for_update=True)
    actor = require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    reason = clean_reason(reason)
    now = utcnow()
    if until is not None and until <= now:
        raise ValidationProblem(
            "Give a time in the future, or null for a permanent ban.", field="until"
        )
    target = await _target(session, access.party.id, user_id)
    _check_reach(access, actor, target, "ban")
    if target is None:
        user = await get_user(session, uuid.UUID(str(user_id))) if _is_uuid(user_id) else None
        if user is None:
            raise NotFound("User not found.", field="userId")
        target = PartyMember(party_id=access.party.id, user_id=user.id, joined_at=now)
        session.add(target)
    was_in = target.status in (MemberStatus.ACTIVE, MemberStatus.PENDING)
    target.status, target.role = MemberStatus.BANNED, MemberRole.MEMBER
    target.banned_until = until
    if was_in:
        target.left_at = now
    await session.flush()
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action="BAN",
        target_user_id=target.user_id,
        reason=reason,
        until=until,
    )
    uid = str(target.user_id)
    # Also ends the stream of a signed-in viewer of a PUBLIC party who is not a member.
    outbox.add(target.party_id, {"type": "MembershipRevoked", "userId": uid, "reason": "BANNED"})
    if was_in:
        outbox.add(target.party_id, {"type": "MemberLeft", "userId": uid})
    return target


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def unban_member(
    session: AsyncSession,
    outbox: Outbox,
    viewer_id: uuid.UUID,
    party_id: str,
    user_id: str,
    reason: str | None = None,
) -> PartyMember:
    access = await load_party(session, party_id, viewer_id, for_update=True)
    require_role(access, MemberRole.MODERATOR)
    require_not_ended(access.party)
    reason = clean_reason(reason)
    target = await _target(session, access.party.id, user_id)
    if target is None or target.status is not MemberStatus.BANNED:
        raise NotFound("This user is not banned from the party.", field="userId")
    target.status, target.banned_until = MemberStatus.LEFT, None
    await session.flush()
    await record_action(
        session,
        party_id=access.party.id,
        actor_id=viewer_id,
        action="UNBAN",
        target_user_id=target.user_id,
        reason=reason,
    )
    return target
