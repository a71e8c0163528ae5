"""One member acting on another member's row: the skeleton every moderation and role change shares.

Approving, rejecting, kicking, banning, unbanning, setting a role and handing over hosting all go
the same way: lock the party row and check the actor's role (`begin_member_action`), find the
target's membership row (`MemberAction.find`), change it, then flush and append the change to
the party's moderation log (`MemberAction.record`) and record the events in the unit of work
(published after the commit).
Keeping that in one place keeps the order of those steps (and so the errors a caller sees first,
and the SQL they cost) the same for every action.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import NotFound
from watchparty.events import record
from watchparty.parties import events
from watchparty.parties.authz import PartyAccess, load_party, require_not_ended, require_role
from watchparty.parties.models import MemberRole, MemberStatus, Party, PartyMember
from watchparty.parties.moderation_log import clean_reason, record_action
from watchparty.parties.service import member_event_payload

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

NOT_A_MEMBER = "This user is not a member of the party."


async def find_member_row(
    session: AsyncSession, party_id: uuid.UUID, user_id: str
) -> PartyMember | None:
    """`user_id`'s membership row of the party whatever its status (None: none, or not a uuid)."""
    try:
        uid = uuid.UUID(str(user_id))
    except ValueError:
        return None
    return await session.scalar(
        select(PartyMember).where(PartyMember.party_id == party_id, PartyMember.user_id == uid)
    )


async def announce_member(
    uow: UnitOfWork,
    kind: type[events.MemberJoined | events.MemberUpdated],
    row: PartyMember,
) -> None:
    """Record a `MemberJoined` / `MemberUpdated` event carrying the member as it is now."""
    member = await member_event_payload(uow.session, row)
    await record(uow, events.party_channel(row.party_id), kind(member=member))


async def announce_left(uow: UnitOfWork, row: PartyMember) -> None:
    """Record a `MemberLeft` event (left, withdrew or was refused, kicked, banned)."""
    left = events.MemberLeft(user_id=str(row.user_id))
    await record(uow, events.party_channel(row.party_id), left)


@dataclass
class MemberAction:
    """An authorized actor inside the locked party, about to change another member's row."""

    uow: UnitOfWork
    access: PartyAccess
    actor: PartyMember
    reason: str | None = None

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    @property
    def party(self) -> Party:
        return self.access.party

    async def find(self, user_id: str) -> PartyMember | None:
        """The target's row whatever its status."""
        return await find_member_row(self.session, self.party.id, user_id)

    async def find_active(self, user_id: str) -> PartyMember:
        """The target's row when they are an active member; NotFound on `userId` otherwise."""
        row = await self.find(user_id)
        if row is None or row.status is not MemberStatus.ACTIVE:
            raise NotFound(NOT_A_MEMBER, field="userId")
        return row

    async def record(
        self,
        action: str,
        target: PartyMember,
        *,
        until: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Flush the change and append it to the party's moderation log (with the reason)."""
        await self.session.flush()
        await record_action(
            self.session,
            party_id=self.party.id,
            actor_id=self.actor.user_id,
            action=action,
            target_user_id=target.user_id,
            reason=self.reason,
            until=until,
            details=details,
        )

    async def announce(
        self, kind: type[events.MemberJoined | events.MemberUpdated], row: PartyMember
    ) -> None:
        await announce_member(self.uow, kind, row)

    async def announce_left(self, row: PartyMember) -> None:
        await announce_left(self.uow, row)

    async def revoke(self, row: PartyMember, why: str) -> None:
        """End the target's party stream (`MembershipRevoked`, reason KICKED or BANNED)."""
        revoked = events.MembershipRevoked(reason=why, user_id=str(row.user_id))
        await record(self.uow, events.party_channel(row.party_id), revoked)


async def begin_member_action(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    *,
    role: MemberRole,
    reason: str | None = None,
    check_ended: bool = True,
) -> MemberAction:
    """Lock the party, require `role` or above of the viewer, refuse an ended party and clean the
    reason, in that order (the order decides which error a request with several faults gets).

    `check_ended=False` leaves the ended check to the caller: answering a join request looks the
    request up first (no request: NotFound, even in an ended party), then refuses an ended party.
    """
    access = await load_party(uow.session, party_id, viewer_id, for_update=True)
    actor = require_role(access, role)
    if check_ended:
        require_not_ended(access.party)
    return MemberAction(uow, access, actor, clean_reason(reason))
