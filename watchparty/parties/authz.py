"""One place for party authorization: load a party as a viewer sees it, then check a role.

One rule per question, plain Python (the GraphQL face loads the rows and asks):
- may this viewer read the party's content (stream, messages, polls, voice room):
  `may_read_content`;
- does this role reach a minimum (moderate: MODERATOR; manage settings, invites, analytics:
  COHOST): `at_least` / `require_role`;
- may this viewer control playback: `can_control`;
- is the party still open: `require_not_ended` (an ended party answers `PartyEnded` to every
  operation that would change it, in every domain).

Visibility rule: a PRIVATE party exists only for its active members. Everybody else (strangers,
people who left, were kicked or banned, pending requests, the anonymous) gets exactly the same
`NotFound` as for an id that never existed, so private parties cannot be discovered by id.
PUBLIC and UNLISTED parties are readable by id (an UNLISTED party is simply not listed; its id
and code are shared by link). Deleted parties are NotFound for everybody.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.errors import NotAllowed, NotFound
from watchparty.kit.time import utcnow
from watchparty.parties.errors import PartyEnded
from watchparty.parties.models import (
    ControlPolicy,
    MemberRole,
    MemberStatus,
    Party,
    PartyMember,
    PartyStatus,
    PartyVisibility,
)

PARTY_NOT_FOUND = "Party not found."

ROLE_RANK: dict[MemberRole, int] = {
    MemberRole.MEMBER: 1,
    MemberRole.MODERATOR: 2,
    MemberRole.COHOST: 3,
    MemberRole.HOST: 4,
}


def role_rank(role: MemberRole | None) -> int:
    return 0 if role is None else ROLE_RANK[role]


def at_least(role: MemberRole | None, minimum: MemberRole) -> bool:
    """Whether `role` (None: not an active member) is `minimum` or higher (HOST > COHOST >
    MODERATOR > MEMBER). Moderating takes MODERATOR; settings, invites and analytics COHOST."""
    return role_rank(role) >= ROLE_RANK[minimum]


@dataclass
class PartyAccess:
    """A party and the viewer's ACTIVE membership of it (None: not an active member).

    `row` is the viewer's membership row whatever its status (pending, left, banned...), for
    services that need to tell those apart (joining again, `myMembership`).
    """

    party: Party
    member: PartyMember | None
    row: PartyMember | None = None
    viewer: User | None = None  # the viewer's user row, when `load_party(with_viewer=True)`

    @property
    def role(self) -> MemberRole | None:
        return None if self.member is None else self.member.role

    @property
    def is_member(self) -> bool:
        return self.member is not None

    def at_least(self, role: MemberRole) -> bool:
        return at_least(self.role, role)


def parse_id(raw: str | uuid.UUID) -> uuid.UUID | None:
    """An id from a client, or None when it is not a UUID at all (which then reads NotFound)."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except (ValueError, AttributeError, TypeError):
        return None


async def load_party(
    session: AsyncSession,
    party_id: str | uuid.UUID,
    viewer_id: uuid.UUID | None,
    *,
    for_update: bool = False,
    with_viewer: bool = False,
) -> PartyAccess:
    """The party as `viewer_id` may see it; NotFound when missing, deleted or invisible.

    `for_update` locks the party row (PostgreSQL) so membership changes serialize per party.
    Without it the party and the viewer's membership row come in one statement, with the
    viewer's user row too when `with_viewer` (services naming the viewer in what they publish).
    """
    pid = parse_id(party_id)
    if pid is None:
        raise NotFound(PARTY_NOT_FOUND)
    query = select(Party).where(Party.id == pid, Party.deleted_at.is_(None))
    row: PartyMember | None = None
    viewer: User | None = None
    if for_update:
        query = query.with_for_update()
        party = (await session.execute(query)).scalar_one_or_none()
    elif viewer_id is not None:
        # (party_id, user_id) is unique: at most one row.
        joined = query.add_columns(PartyMember).outerjoin(
            PartyMember, and_(PartyMember.party_id == Party.id, PartyMember.user_id == viewer_id)
        )
        if with_viewer:
            joined = joined.add_columns(User).outerjoin(User, User.id == viewer_id)
        found = (await session.execute(joined)).first()
        if found is None:
            party = None
        else:
            party, row = found[0], found[1]
            viewer = found[2] if with_viewer else None
    else:
        party = await session.scalar(query)
    if party is None:
        raise NotFound(PARTY_NOT_FOUND)
    if for_update and viewer_id is not None:
        row = await session.scalar(
            select(PartyMember).where(
                PartyMember.party_id == party.id, PartyMember.user_id == viewer_id
            )
        )
    member = row if row is not None and row.status is MemberStatus.ACTIVE else None
    if party.visibility is PartyVisibility.PRIVATE and member is None:
        raise NotFound(PARTY_NOT_FOUND)
    return PartyAccess(party=party, member=member, row=row, viewer=viewer)


def require_member(access: PartyAccess) -> PartyMember:
    """The viewer's active membership, or NotAllowed (invisible parties never get this far)."""
    if access.member is None:
        raise NotAllowed("Only members of this party can do that.")
    return access.member


def require_role(access: PartyAccess, role: MemberRole) -> PartyMember:
    """The viewer's membership when their role is `role` or higher (HOST > COHOST > MODERATOR >
    MEMBER); NotAllowed otherwise."""
    member = require_member(access)
    if not at_least(member.role, role):
        raise NotAllowed(f"Only a {role.value.lower()} or above can do that.")
    return member


def can_control(access: PartyAccess) -> bool:
    """Whether the viewer may control playback, per the party's control policy."""
    policy = access.party.control_policy
    if policy is ControlPolicy.EVERYONE:
        return access.is_member
    if policy is ControlPolicy.HOSTS:
        return access.at_least(MemberRole.COHOST)
    return access.role is MemberRole.HOST


def may_read_content(
    visibility: PartyVisibility, row: PartyMember | None, *, signed_in: bool
) -> bool:
    """Who may read a visible party's content (follow its stream, read its messages, polls and
    voice room): its active members; for a PUBLIC party also any signed-in viewer whose ban
    (if any) is not in force. `row` is the viewer's membership row whatever its status."""
    if row is not None and row.status is MemberStatus.ACTIVE:
        return True
    return signed_in and visibility is PartyVisibility.PUBLIC and not is_banned(row)


def require_not_ended(party: Party, message: str | None = None) -> None:
    """`PartyEnded` when the party has ended: an ended party is read-only in every domain
    (leaving it, ending it again, deleting it and cleaning up after it stay possible)."""
    if party.status is PartyStatus.ENDED:
        raise PartyEnded() if message is None else PartyEnded(message)


def is_banned(row: PartyMember | None) -> bool:
    """Whether `row` is a ban in force (a ban past its `banned_until` has lapsed)."""
    if row is None or row.status is not MemberStatus.BANNED:
        return False
    return row.banned_until is None or row.banned_until > utcnow()


def can_act_on(actor: MemberRole, target: MemberRole) -> bool:
    """Moderation reaches strictly lower roles only (a moderator never acts on a co-host)."""
    return ROLE_RANK[actor] > ROLE_RANK[target]


def visible_filter(viewer_id: uuid.UUID | None) -> ColumnElement[bool]:
    """SQL clause: parties `viewer_id` may read (not deleted; PRIVATE only as an active member)."""
    not_deleted = Party.deleted_at.is_(None)
    if viewer_id is None:
        return and_(not_deleted, Party.visibility != PartyVisibility.PRIVATE)
    is_member: Any = exists().where(
        PartyMember.party_id == Party.id,
        PartyMember.user_id == viewer_id,
        PartyMember.status == MemberStatus.ACTIVE,
    )
    return and_(not_deleted, or_(Party.visibility != PartyVisibility.PRIVATE, is_member))
