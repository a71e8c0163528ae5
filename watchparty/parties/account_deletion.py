"""A deleted account leaves every party it is in before its row goes (registered with
`accounts.deletion_hooks` by `registry.py`).

Leaving is `joining.leave_party`'s, so the others see `MemberLeft`, and a party the account
hosts is handed over (a co-host, else the longest-standing member) or, with nobody left, ended:
a party with members outlives its host's account. Parties whose host row is deleted (ended
ones, and those just ended) go with it (the foreign key cascades), their chat and polls too.
At most `MAX_PARTIES` open memberships are left this way (the plan bounds hosted parties far
below that); any beyond are simply cascaded.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from watchparty.parties.joining import leave_party
from watchparty.parties.models import MemberStatus, Party, PartyMember, PartyStatus

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_PARTIES = 200


async def leave_every_party(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    party_ids = list(
        await uow.session.scalars(
            select(PartyMember.party_id)
            .join(Party, Party.id == PartyMember.party_id)
            .where(
                PartyMember.user_id == user_id,
                PartyMember.status.in_([MemberStatus.ACTIVE, MemberStatus.PENDING]),
                Party.status != PartyStatus.ENDED,
                Party.deleted_at.is_(None),
            )
            .order_by(PartyMember.party_id)
            .limit(MAX_PARTIES)
        )
    )
    for party_id in party_ids:
        await leave_party(uow, user_id, str(party_id))
