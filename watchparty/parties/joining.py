"""Joining (by id, code or invite), approval of join requests, and leaving.

Every function locks the party row first (`load_party(..., for_update=True)` on PostgreSQL), so
capacity checks and host changes of one party never interleave.

Decisions (see the README):
- PUBLIC parties can be joined by id; UNLISTED and PRIVATE ones need the code or an invite
  (by id: NotAllowed for UNLISTED, NotFound for PRIVATE, which a stranger cannot see).
- With `requireApproval`, joining by id or code leaves a PENDING request (`JoinPending`);
  an invite link skips approval (whoever made it vouched). Pending requests do not count
  toward `maxMembers`; approval checks capacity again. Approving and rejecting need MODERATOR
  or above.
- Joining again after leaving or being kicked works; a ban blocks until it expires.
- Accepting a direct invitation (`join_invited`) is joining by an invite link: any visibility,
  no approval, bans and capacity still apply.
- Capacity is the party's `maxMembers` (`PartyFull`) and its host's plan (`PlanLimitExceeded`,
  `plan_limits.py`): the host's plan decides, not the joiner's.
- A leaving host hands hosting over (`hosting`), or ends the party when nobody is left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.errors import NotAllowed, NotFound, PlanLimit, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.authz import (
    PARTY_NOT_FOUND,
    PartyAccess,
    is_banned,
    load_party,
    require_member,
    require_not_ended,
)
from watchparty.parties.errors import Banned, PartyFull
from watchparty.parties.events import MemberJoined, MemberUpdated
from watchparty.parties.hosting import find_successor, make_host
from watchparty.parties.invites import claim_invite, find_invite
from watchparty.parties.member_actions import (
    MemberAction,
    announce_left,
    announce_member,
    begin_member_action,
)
from watchparty.parties.member_hooks import MemberChange, MemberChangeKind, member_changed
from watchparty.parties.models import (
    InviteLink,
    MemberRole,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
)
from watchparty.parties.plan_limits import plan_of
from watchparty.parties.service import active_member_count, mark_ended, party_by_code

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


@dataclass
class JoinResult:
    party: Party
    member: PartyMember

    @property
    def pending(self) -> bool:
        return self.member.status is MemberStatus.PENDING


async def join_party(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    *,
    party_id: str | None = None,
    code: str | None = None,
    invite_token: str | None = None,
) -> JoinResult:
    session = uow.session
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
    return await _join(uow, viewer_id, access, invite=invite, invited=invite is not None)


async def join_invited(uow: UnitOfWork, viewer_id: uuid.UUID, party_id: uuid.UUID) -> JoinResult:
    """Join a party the viewer was invited to in person (`acceptPartyInvite`): like an invite
    link, whatever the visibility and without approval; bans, capacity and an ended party
    refuse it the same way."""
    access = await _load_reachable(uow.session, party_id, viewer_id)
    row = access.row
    if row is not None and row.status is MemberStatus.ACTIVE:
        return JoinResult(access.party, row)
    return await _join(uow, viewer_id, access, invite=None, invited=True)


async def _join(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    access: PartyAccess,
    *,
    invite: InviteLink | None,
    invited: bool,
) -> JoinResult:
    """The viewer (not an active member of the locked party) joins, or asks to; `invited`
    (an invite link or a direct invitation) skips approval."""
    session = uow.session
    party, row = access.party, access.row
    now = utcnow()
    if is_banned(row):
        assert row is not None
        raise Banned(row.banned_until)
    require_not_ended(party)
    approval = party.require_approval and not invited
    if approval and row is not None and row.status is MemberStatus.PENDING:
        return JoinResult(party, row)  # asked already
    if not approval:
        await _require_room(uow, party)
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
    await announce_member(uow, MemberUpdated if approval else MemberJoined, row)
    if not approval:
        tracking.track(uow, "party.join", user_id=viewer_id, party_id=party.id, role="MEMBER")
    if approval:
        await member_changed(
            uow,
            MemberChange(
                MemberChangeKind.JOIN_REQUESTED,
                party.id,
                party.title,
                viewer_id,
                viewer_id,
                moderator_ids=await _moderator_ids(session, party.id),
            ),
        )
    return JoinResult(party, row)


async def _require_room(uow: UnitOfWork, party: Party) -> None:
    """Room for one more active member of the (locked) party: `PartyFull` at its `maxMembers`,
    `PlanLimitExceeded` at its host's plan's limit (which may be lower after a downgrade or a
    transfer: the members already in stay)."""
    count = await active_member_count(uow.session, party.id)
    if count >= party.max_members:
        raise PartyFull(party.max_members)
    plan = await plan_of(uow.session, uow.app.settings, party.host_id)
    if plan is not None:
        plan.require(PlanLimit.PARTY_MEMBERS, count + 1, host=True)


async def _moderator_ids(session: AsyncSession, party_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The active host, co-hosts and moderators: who answers join requests."""
    rows = await session.scalars(
        select(PartyMember.user_id).where(
            PartyMember.party_id == party_id,
            PartyMember.status == MemberStatus.ACTIVE,
            PartyMember.role.in_((MemberRole.HOST, MemberRole.COHOST, MemberRole.MODERATOR)),
        )
    )
    return tuple(rows)


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
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> tuple[MemberAction, PartyMember]:
    """The party (locked) and `user_id`'s pending join request, for a moderator or above."""
    action = await begin_member_action(
        uow, viewer_id, party_id, role=MemberRole.MODERATOR, check_ended=False
    )
    row = await action.find(user_id)
    if row is None or row.status is not MemberStatus.PENDING:
        raise NotFound("No pending request from this user.", field="userId")
    return action, row


async def approve_member(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> PartyMember:
    action, row = await _pending_request(uow, viewer_id, party_id, user_id)
    party = action.party
    require_not_ended(party)
    await _require_room(uow, party)
    row.status = MemberStatus.ACTIVE
    row.joined_at = utcnow()
    await action.record("APPROVE", row)
    await action.announce(MemberJoined, row)
    tracking.track(uow, "party.join", user_id=row.user_id, party_id=party.id, role="MEMBER")
    await member_changed(
        uow,
        MemberChange(MemberChangeKind.JOIN_APPROVED, party.id, party.title, row.user_id, viewer_id),
    )
    return row


async def reject_member(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_id: str
) -> PartyMember:
    action, row = await _pending_request(uow, viewer_id, party_id, user_id)
    require_not_ended(action.party)
    row.status = MemberStatus.LEFT
    row.left_at = utcnow()
    await action.record("REJECT", row)
    await action.announce_left(row)
    party = action.party
    await member_changed(
        uow,
        MemberChange(MemberChangeKind.JOIN_REJECTED, party.id, party.title, row.user_id, viewer_id),
    )
    return row


async def leave_party(uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str) -> uuid.UUID:
    """Leave (or withdraw a pending request). A leaving host hands over or ends the party."""
    session = uow.session
    access = await load_party(session, party_id, viewer_id, for_update=True)
    row = access.row
    if row is not None and row.status is MemberStatus.PENDING:
        row.status, row.left_at = MemberStatus.LEFT, utcnow()
        await session.flush()
        await announce_left(uow, row)
        return access.party.id
    member = require_member(access)
    was_host = member.role is MemberRole.HOST
    member.status, member.role, member.left_at = MemberStatus.LEFT, MemberRole.MEMBER, utcnow()
    await session.flush()
    await announce_left(uow, member)
    tracking.track(
        uow, "party.leave", user_id=member.user_id, party_id=access.party.id, reason="LEFT"
    )
    if was_host:
        successor = await find_successor(session, access.party.id, exclude=member.user_id)
        if successor is None:
            if access.party.status is not PartyStatus.ENDED:
                await mark_ended(uow, access.party)
        else:
            await make_host(
                uow, access.party, successor, actor_id=member.user_id, handover="HOST_LEFT"
            )
    return access.party.id
