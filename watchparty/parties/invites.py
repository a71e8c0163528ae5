"""Invite links: a bearer token in a URL that lets its holder join (and skip approval).

Only the token's SHA-256 is stored; the raw token is returned once, at creation. Links expire
(`expiresInHours`, 1..720, null: never), can be limited in uses (`maxUses`, 1..10000, null:
unlimited) and revoked. Host and co-hosts manage them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import InvalidToken, NotFound, ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.authz import load_party, parse_id, require_not_ended, require_role
from watchparty.parties.codes import generate_invite_token, hash_invite_token
from watchparty.parties.models import InviteLink, MemberRole

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_EXPIRES_IN_HOURS = 720
MAX_USES = 10_000
MAX_TOKEN_LENGTH = 100


@dataclass
class NewInvite:
    link: InviteLink
    token: str


def invite_url(frontend_url: str, token: str) -> str:
    return f"{frontend_url.rstrip('/')}/join/{token}"


async def create_invite_link(
    uow: UnitOfWork,
    viewer_id: uuid.UUID,
    party_id: str,
    *,
    expires_in_hours: int | None,
    max_uses: int | None,
) -> NewInvite:
    session = uow.session
    access = await load_party(session, party_id, viewer_id)
    require_role(access, MemberRole.COHOST)
    require_not_ended(access.party)
    if expires_in_hours is not None and not 1 <= expires_in_hours <= MAX_EXPIRES_IN_HOURS:
        raise ValidationProblem(
            f"Between 1 and {MAX_EXPIRES_IN_HOURS} hours, or null for no expiry.",
            field="expiresInHours",
        )
    if max_uses is not None and not 1 <= max_uses <= MAX_USES:
        raise ValidationProblem(f"Between 1 and {MAX_USES}, or null for no limit.", field="maxUses")
    token = generate_invite_token()
    now = utcnow()
    link = InviteLink(
        party_id=access.party.id,
        token_hash=hash_invite_token(token),
        created_by_id=viewer_id,
        expires_at=None if expires_in_hours is None else now + timedelta(hours=expires_in_hours),
        max_uses=max_uses,
        uses=0,
        created_at=now,
    )
    session.add(link)
    await session.flush()
    return NewInvite(link=link, token=token)


async def revoke_invite_link(uow: UnitOfWork, viewer_id: uuid.UUID, link_id: str) -> InviteLink:
    session = uow.session
    lid = parse_id(link_id)
    link = None if lid is None else await session.get(InviteLink, lid)
    if link is None:
        raise NotFound("Invite link not found.", field="inviteLinkId")
    try:
        access = await load_party(session, link.party_id, viewer_id)
    except NotFound:
        raise NotFound("Invite link not found.", field="inviteLinkId") from None
    if not access.at_least(MemberRole.COHOST):
        # Members may not even learn that the link exists.
        if access.is_member:
            require_role(access, MemberRole.COHOST)
        raise NotFound("Invite link not found.", field="inviteLinkId")
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        await session.flush()
    return link


async def find_invite(session: AsyncSession, token: str) -> InviteLink:
    """The link a token opens; InvalidToken when unknown, revoked, expired or used up."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("This invite link is not valid.", field="inviteToken")
    link = await session.scalar(
        select(InviteLink).where(InviteLink.token_hash == hash_invite_token(token))
    )
    if link is None:
        raise InvalidToken("This invite link is not valid.", field="inviteToken")
    if link.revoked_at is not None:
        raise InvalidToken("This invite link was revoked.", field="inviteToken")
    if link.expires_at is not None and link.expires_at <= utcnow():
        raise InvalidToken("This invite link has expired.", field="inviteToken")
    if link.max_uses is not None and link.uses >= link.max_uses:
        raise InvalidToken("This invite link has been used up.", field="inviteToken")
    return link


async def claim_invite(session: AsyncSession, link: InviteLink) -> None:
    """Count one use, atomically: two people racing for the last use cannot both get it."""
    result = await session.execute(
        update(InviteLink)
        .where(
            InviteLink.id == link.id,
            InviteLink.revoked_at.is_(None),
            or_(InviteLink.max_uses.is_(None), InviteLink.uses < InviteLink.max_uses),
        )
        .values(uses=InviteLink.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidToken("This invite link has been used up.", field="inviteToken")
