"""REPLY and MENTION notifications of a new chat message, written in the unit of work that
sends it (so they exist exactly when the message does).

- REPLY to the author of the message replied to, collapsed per replied message
  (`reply:<messageId>`: "Bob and 2 others replied to you").
- MENTION for each `@displayName` of an ACTIVE member of the party: exact display name,
  case-insensitive, not followed by a letter, digit or `_` (`@Bob` is not `@Bobby`); at one
  `@` the longest name wins ("@Bob Smith" is Bob Smith, not Bob). At most `MAX_MENTIONS`
  people per message, in the order they are first named; never the author; whoever is
  replied to gets the REPLY only.
- At most RATE_LIMIT_MENTIONS (30 a minute) MENTION notifications per author, counted per
  person told, across parties: beyond it the message is still sent, with no further MENTION
  (REPLY is not limited: one per message, under the chat flood limit already).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from watchparty.accounts.models import User
from watchparty.chat.models import ChatMessage
from watchparty.errors import RateLimited
from watchparty.kit.ratelimit import Limit
from watchparty.notifications.models import NotificationKind, SubjectType
from watchparty.notifications.service import Subject, notify
from watchparty.parties.models import MemberStatus, Party, PartyMember

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_MENTIONS = 10
EXCERPT_LENGTH = 180


def _boundary(body: str, end: int) -> bool:
    return end >= len(body) or not (body[end].isalnum() or body[end] == "_")


def mentioned(body: str, members: list[tuple[uuid.UUID, str]]) -> list[uuid.UUID]:
    """The members `body` names with `@displayName`, in order of first mention (distinct)."""
    lowered = body.casefold()
    names: dict[str, list[uuid.UUID]] = {}
    for user_id, name in members:
        key = name.casefold()
        if key:
            names.setdefault(key, []).append(user_id)
    by_length = sorted(names, key=len, reverse=True)
    found: dict[uuid.UUID, None] = {}
    at = lowered.find("@")
    while at != -1:
        start = at + 1
        if at == 0 or not (lowered[at - 1].isalnum() or lowered[at - 1] == "_"):
            for key in by_length:
                if lowered.startswith(key, start) and _boundary(lowered, start + len(key)):
                    found.update(dict.fromkeys(names[key]))
                    break
        at = lowered.find("@", start)
    return list(found)


async def notify_message(
    uow: UnitOfWork, party: Party, message: ChatMessage, reply: ChatMessage | None
) -> None:
    """Tell whoever `message` replies to and whoever it mentions."""
    body = message.body or ""
    data = {
        "partyId": str(party.id),
        "partyTitle": party.title,
        "messageId": str(message.id),
        "excerpt": body[:EXCERPT_LENGTH],
    }
    author = message.author_id
    replied_to = None if reply is None else reply.author_id
    if reply is not None and replied_to is not None and replied_to != author:
        await notify(
            uow,
            [replied_to],
            NotificationKind.REPLY,
            actor_id=author,
            subject=Subject(SubjectType.MESSAGE, str(reply.id)),
            data=data,
            group_key=f"reply:{reply.id}",
        )
    if "@" not in body:
        return
    rows = await uow.session.execute(
        select(PartyMember.user_id, User.display_name)
        .join(User, User.id == PartyMember.user_id)
        .where(PartyMember.party_id == party.id, PartyMember.status == MemberStatus.ACTIVE)
    )
    named = [u for u in mentioned(body, [(r[0], r[1]) for r in rows]) if u != author]
    recipients = await _within_limit(
        uow, author, [u for u in named[:MAX_MENTIONS] if u != replied_to]
    )
    if recipients:
        await notify(
            uow,
            recipients,
            NotificationKind.MENTION,
            actor_id=author,
            subject=Subject(SubjectType.MESSAGE, str(message.id)),
            data=data,
        )


async def _within_limit(
    uow: UnitOfWork, author: uuid.UUID | None, recipients: list[uuid.UUID]
) -> list[uuid.UUID]:
    """The first of `recipients` the author's mention limit still allows (one hit each)."""
    if author is None:
        return recipients
    limit = Limit.parse(uow.app.settings.rate_limit_mentions)
    allowed: list[uuid.UUID] = []
    for user_id in recipients:
        try:
            await uow.app.limiter.hit(f"mention:{author}", limit)
        except RateLimited:
            break
        allowed.append(user_id)
    return allowed
