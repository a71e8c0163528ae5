"""Reading messages: batched payloads and `Party.messages` history pages.

`payloads_for` turns any number of messages into payloads with a constant number of statements
(authors joined, one for reply targets, one for reactions), so a page of 100 costs what a page
of 5 does. Reactions carry up to `REACTORS_CAP` user ids per emoji (for `reactedByMe` without a
read per viewer); `complete` says whether that list is the whole set.

History pages are newest first: `last` messages before the `before` cursor (a message's `seq`
as a string, the same `cursor` the stream's ChatMessage carries). No GraphQL here: the
`Party.messages` field (who may read, the connection type) is `chat.history_resolvers`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import User
from watchparty.chat.models import ChatMessage, MessageReaction
from watchparty.chat.payloads import message_payload, reply_preview
from watchparty.kit.emoji import ALLOWED_EMOJI
from watchparty.kit.pagination import MAX_PAGE_SIZE, PaginationError

REACTORS_CAP = 100
DEFAULT_HISTORY_PAGE = 50
_EMOJI_ORDER = {emoji: n for n, emoji in enumerate(ALLOWED_EMOJI)}


async def reaction_payloads(
    session: AsyncSession, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Per message: `[{emoji, count, userIds (first 100 reactors), complete}]` in the order of
    `ALLOWED_EMOJI`. One statement."""
    found: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
    if not message_ids:
        return {}
    r = MessageReaction
    window = (r.message_id, r.emoji)
    ranked = (
        select(
            r.message_id,
            r.emoji,
            r.user_id,
            func.row_number()
            .over(partition_by=window, order_by=(r.created_at, r.user_id))
            .label("rank"),
            func.count().over(partition_by=window).label("total"),
        )
        .where(r.message_id.in_(message_ids))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.message_id, ranked.c.emoji, ranked.c.user_id, ranked.c.total)
        .where(ranked.c.rank <= REACTORS_CAP)
        .order_by(ranked.c.message_id, ranked.c.emoji, ranked.c.rank)
    )
    for message_id, emoji, user_id, total in rows.all():
        entry = found.setdefault(message_id, {}).setdefault(
            emoji, {"emoji": emoji, "count": int(total), "userIds": []}
        )
        entry["userIds"].append(str(user_id))
    result = {}
    for message_id, per_emoji in found.items():
        entries = sorted(per_emoji.values(), key=lambda e: _EMOJI_ORDER.get(e["emoji"], 999))
        for entry in entries:
            entry["complete"] = len(entry["userIds"]) == entry["count"]
        result[message_id] = entries
    return result


async def payloads_for(
    session: AsyncSession,
    messages: Sequence[ChatMessage],
    authors: dict[Any, User] | None = None,
    *,
    fresh: bool = False,
) -> list[dict[str, Any]]:
    """Full payloads of `messages`, in order. `authors` may hold authors already loaded;
    `fresh`: messages this unit of work just created (they have no reactions, none are read)."""
    users: dict[Any, User] = dict(authors or {})
    replies: dict[uuid.UUID, ChatMessage] = {}
    reply_ids = {m.reply_to_id for m in messages if m.reply_to_id and not m.is_tombstone}
    if reply_ids:
        rows = await session.execute(
            select(ChatMessage, User)
            .outerjoin(User, User.id == ChatMessage.author_id)
            .where(ChatMessage.id.in_(reply_ids))
        )
        for target, author in rows.all():
            replies[target.id] = target
            if author is not None:
                users[author.id] = author
    wanted = {m.author_id for m in messages if m.author_id is not None} - set(users)
    if wanted:
        for user in await session.scalars(select(User).where(User.id.in_(wanted))):
            users[user.id] = user
    visible = [m.id for m in messages if not m.is_tombstone]
    reactions = {} if fresh else await reaction_payloads(session, visible)
    payloads = []
    for message in messages:
        reply = None if message.reply_to_id is None else replies.get(message.reply_to_id)
        payloads.append(
            message_payload(
                message,
                users.get(message.author_id),
                reactions=reactions.get(message.id, []),
                reply=None if reply is None else reply_preview(reply, users.get(reply.author_id)),
            )
        )
    return payloads


def parse_history_cursor(before: str | None) -> int | None:
    if before is None:
        return None
    text = before.strip()
    if not text.isdigit() or len(text) > 18:
        raise PaginationError("`before` is not a cursor of this party's messages.")
    return int(text)


def history_size(last: int | None) -> int:
    if last is None:
        return DEFAULT_HISTORY_PAGE
    if last < 0:
        raise PaginationError("`last` must not be negative.")
    return min(last, MAX_PAGE_SIZE)


@dataclass
class HistoryPage:
    payloads: list[dict[str, Any]]  # newest first
    has_older: bool
    has_newer: bool


async def history_page(
    session: AsyncSession, party_id: uuid.UUID, last: int | None, before: str | None
) -> HistoryPage:
    """Newest first; tombstones included. Statements: messages with their authors, reply
    targets (only when a message replies), reactions: constant in the page size."""
    size = history_size(last)
    cursor = parse_history_cursor(before)
    if size == 0:
        return HistoryPage([], False, cursor is not None)
    query = (
        select(ChatMessage, User)
        .outerjoin(User, User.id == ChatMessage.author_id)
        .where(ChatMessage.party_id == party_id)
        .order_by(ChatMessage.seq.desc())
        .limit(size + 1)
    )
    if cursor is not None:
        query = query.where(ChatMessage.seq < cursor)
    rows = list((await session.execute(query)).all())
    has_older = len(rows) > size
    rows = rows[:size]
    authors = {user.id: user for _, user in rows if user is not None}
    payloads = await payloads_for(session, [m for m, _ in rows], authors)
    return HistoryPage(payloads, has_older, cursor is not None)
