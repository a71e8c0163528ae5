"""Inviting people to a party in person (`inviteToParty`), and answering such an invitation by
its notification (`acceptPartyInvite`, `declinePartyInvite`).

Decisions (see the README):
- Who may invite: the host and co-hosts, like invite links (an invitation skips approval the
  way a link does, so it takes the role that makes links). 1..20 people per call.
- Whom: only people the inviter knows from a party: both have, in one party, a membership that
  is or was active (ACTIVE, LEFT, KICKED; following someone's invite link makes you a member of
  their party, so it counts). Everyone else is skipped with NOT_CONNECTED, and so are ids of
  nobody and malformed ids: the answer never tells a stranger from a missing account. Active
  members are skipped with ALREADY_MEMBER (the inviter included), people whose ban from this
  party is in force with BANNED. A skip is per person, never an error for the whole call.
- Rate limit: RATE_LIMIT_PARTY_INVITES (50 an hour) invitees per inviter, counted one by one;
  those beyond it are skipped with RATE_LIMITED, and a call that could invite nobody but for
  the limit answers RateLimited.
- The invitees get PARTY_INVITE (through the registered notice hook), one entry per party while
  unread ("Alice and 1 other invited you to ..."). Accepting joins as by an invite link
  (`joining.join_invited`) and reads the notification; declining only reads it and tells
  nobody. Either one on a notification of someone else is NotFound.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import RateLimited, ValidationProblem
from watchparty.kit.ratelimit import Limit
from watchparty.parties.authz import (
    is_banned,
    load_party,
    parse_id,
    require_not_ended,
    require_role,
)
from watchparty.parties.joining import JoinResult, join_invited
from watchparty.parties.models import MemberRole, MemberStatus, Party, PartyMember
from watchparty.parties.notice_hooks import (
    PartyNotice,
    PartyNoticeKind,
    open_invitation,
    party_noticed,
)

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_INVITEES = 20
# Memberships that say two people met in a party: is or was active.
KNOWN = (MemberStatus.ACTIVE, MemberStatus.LEFT, MemberStatus.KICKED)


class InviteSkipReason(StrEnum):
    ALREADY_MEMBER = "ALREADY_MEMBER"
    BANNED = "BANNED"
    NOT_CONNECTED = "NOT_CONNECTED"
    RATE_LIMITED = "RATE_LIMITED"


@dataclass
class InviteResult:
    party: Party
    invited: list[uuid.UUID] = field(default_factory=list)
    skipped: list[tuple[str, InviteSkipReason]] = field(default_factory=list)


async def _connected(
    session: AsyncSession, viewer_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `user_ids` who share a party with the viewer (memberships in KNOWN)."""
    if not user_ids:
        return set()
    mine = select(PartyMember.party_id).where(
        PartyMember.user_id == viewer_id, PartyMember.status.in_(KNOWN)
    )
    found = await session.scalars(
        select(PartyMember.user_id)
        .where(
            PartyMember.user_id.in_(user_ids),
            PartyMember.status.in_(KNOWN),
            PartyMember.party_id.in_(mine),
        )
        .distinct()
    )
    return set(found)


async def invite_to_party(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, user_ids: Sequence[str]
) -> InviteResult:
    """Invite `user_ids` (1..20, duplicates counted once) to the party; see the module's rules."""
    wanted = list(dict.fromkeys(str(raw) for raw in user_ids))
    if not wanted:
        raise ValidationProblem("Give at least one person to invite.", field="userIds")
    if len(wanted) > MAX_INVITEES:
        raise ValidationProblem(f"At most {MAX_INVITEES} people at a time.", field="userIds")
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    require_role(access, MemberRole.COHOST)
    party = access.party
    require_not_ended(party)
    parsed = {raw: parse_id(raw) for raw in wanted}
    ids = [uid for uid in parsed.values() if uid is not None]
    rows = {
        row.user_id: row
        for row in await session.scalars(
            select(PartyMember).where(
                PartyMember.party_id == party.id, PartyMember.user_id.in_(ids)
            )
        )
    }
    connected = await _connected(session, viewer_id, ids)
    result = InviteResult(party)
    candidates: list[tuple[str, uuid.UUID]] = []
    for raw, uid in parsed.items():
        row = None if uid is None else rows.get(uid)
        if uid is None or (uid not in connected and uid != viewer_id):
            result.skipped.append((raw, InviteSkipReason.NOT_CONNECTED))
        elif uid == viewer_id or (row is not None and row.status is MemberStatus.ACTIVE):
            result.skipped.append((raw, InviteSkipReason.ALREADY_MEMBER))
        elif is_banned(row):
            result.skipped.append((raw, InviteSkipReason.BANNED))
        else:
            candidates.append((raw, uid))
    limit = Limit.parse(uow.app.settings.rate_limit_party_invites)
    limited: RateLimited | None = None
    for raw, uid in candidates:
        if limited is None:
            try:
                await uow.app.limiter.hit(f"party-invite:{viewer_id}", limit)
            except RateLimited as exc:
                limited = exc
        if limited is None:
            result.invited.append(uid)
        else:
            result.skipped.append((raw, InviteSkipReason.RATE_LIMITED))
    if limited is not None and not result.invited:
        raise limited
    order = {raw: n for n, raw in enumerate(wanted)}
    result.skipped.sort(key=lambda item: order[item[0]])
    notice = PartyNotice(
        PartyNoticeKind.INVITED, party.id, party.title, tuple(result.invited), actor_id=viewer_id
    )
    await party_noticed(uow, notice)
    return result


async def accept_party_invite(
    uow: UnitOfWork, viewer_id: uuid.UUID, notification_id: str
) -> JoinResult:
    """Join the party of the viewer's invitation (as by an invite link) and read it."""
    party_id = await open_invitation(uow, viewer_id, notification_id)
    return await join_invited(uow, viewer_id, party_id)


async def decline_party_invite(
    uow: UnitOfWork, viewer_id: uuid.UUID, notification_id: str
) -> uuid.UUID:
    """Read the viewer's invitation; nobody is told. The party's id."""
    return await open_invitation(uow, viewer_id, notification_id)
