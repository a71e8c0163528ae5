"""The chat rules: send, edit, delete, react, typing. No GraphQL here; services only flush.

Who may do what:
- Send, edit, react and type: active members of a party whose chat is on and that has not ended
  (an ended party keeps its history readable but takes no new messages: PartyEnded).
- Edit: the author only. Delete: the author (even after leaving), or a moderator and above
  acting on a member of strictly lower rank (`can_act_on`); a moderator's deletion is logged.
- A PRIVATE party's messages do not exist for outsiders: NotFound ("Message not found.").
Every service takes the unit of work first, then the acting user's id (`watchparty.db`). Every
change is recorded as a stored party event in that unit of work (published after commit); typing
is ephemeral.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty import tracking
from watchparty.accounts.models import User
from watchparty.chat.errors import ChatDisabled, Muted
from watchparty.chat.events import MessageAdded, MessageDeleted, MessageUpdated, TypingChanged
from watchparty.chat.history import payloads_for
from watchparty.chat.models import (
    BODY_MAX_LENGTH,
    CLIENT_ID_MAX_LENGTH,
    ChatCounter,
    ChatMessage,
    MessageReaction,
)
from watchparty.chat.moderation import check_can_post, load_message, mute_in_force
from watchparty.chat.notices import notify_message
from watchparty.chat.payloads import full_payload as full_payload  # re-exported
from watchparty.chat.payloads import message_payload as message_payload
from watchparty.errors import NotAllowed, NotFound, RateLimited, ValidationProblem
from watchparty.events import publish, record
from watchparty.kit.emoji import is_allowed_emoji
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.parties.authz import (
    PartyAccess,
    can_act_on,
    load_party,
    parse_id,
    require_member,
    require_not_ended,
)
from watchparty.parties.events import party_channel
from watchparty.parties.models import MemberRole, PartyMember
from watchparty.parties.moderation_log import record_action

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MESSAGE_NOT_FOUND = "Message not found."
TYPING_TTL_MS = 5000  # typing=true lasts this long unless renewed


# -- validation ---------------------------------------------------------------------------------


def clean_body(body: str, field: str = "body") -> str:
    """Trimmed plain text of 1..2000 characters; control characters other than newline and tab
    are refused (never silently dropped: the sender sees what was stored)."""
    text = body.strip()
    if not text:
        raise ValidationProblem("A message cannot be empty.", field=field)
    if len(text) > BODY_MAX_LENGTH:
        raise ValidationProblem(
            f"A message has at most {BODY_MAX_LENGTH} characters ({len(text)} given).",
            field=field,
        )
    for char in text:
        if (ord(char) < 32 and char not in "\n\t") or 0x7F <= ord(char) < 0xA0:
            raise ValidationProblem("Control characters are not allowed.", field=field)
    return text


def _clean_client_id(client_id: str | None) -> str | None:
    if client_id is None:
        return None
    if not client_id or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise ValidationProblem(
            f"clientId has 1..{CLIENT_ID_MAX_LENGTH} characters.", field="clientId"
        )
    return client_id


def _check_emoji(emoji: str) -> None:
    if not is_allowed_emoji(emoji):
        raise ValidationProblem("This emoji is not allowed (see allowedEmoji).", field="emoji")


def _require_chat(access: PartyAccess) -> PartyMember:
    member = require_member(access)
    require_not_ended(access.party, "This party has ended: its chat is read-only.")
    if not access.party.chat_enabled:
        raise ChatDisabled()
    return member


# -- sending ------------------------------------------------------------------------------------


@dataclass
class NewMessage:
    party_id: str
    body: str
    reply_to_id: str | None = None
    client_id: str | None = None


async def _existing(
    session: AsyncSession, party_id: uuid.UUID, author_id: uuid.UUID, client_id: str | None
) -> ChatMessage | None:
    if client_id is None:
        return None
    return await session.scalar(
        select(ChatMessage).where(
            ChatMessage.party_id == party_id,
            ChatMessage.author_id == author_id,
            ChatMessage.client_id == client_id,
        )
    )


async def _next_seq(session: AsyncSession, party_id: uuid.UUID) -> int:
    """One upsert on the party's counter row; its lock serializes senders until commit."""
    table: Any = ChatCounter.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(party_id=party_id, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.party_id], set_={"last_seq": table.c.last_seq + 1}
    )
    return int((await session.execute(stmt.returning(table.c.last_seq))).scalar_one())


async def send_message(uow: UnitOfWork, viewer_id: uuid.UUID, new: NewMessage) -> dict[str, Any]:
    """The new message's payload; with a `clientId` already used by the viewer in this party,
    the payload of that message (nothing is sent twice)."""
    body = clean_body(new.body)
    client_id = _clean_client_id(new.client_id)
    session = uow.session
    access = await load_party(session, new.party_id, viewer_id, with_viewer=True)
    _require_chat(access)
    party_id = access.party.id
    found = await _existing(session, party_id, viewer_id, client_id)
    if found is not None:  # a retry: answered before slow mode and flood limits count it
        return await full_payload(session, found)
    reply_to_id = None
    reply = None
    if new.reply_to_id is not None:
        reply = await _message_in(session, new.reply_to_id, party_id)
        if reply is None:
            raise ValidationProblem("No such message in this party.", field="replyToId")
        reply_to_id = reply.id
    now = utcnow()
    await check_can_post(session, access, now)
    limit = Limit.parse(uow.app.settings.rate_limit_chat)
    await uow.app.limiter.hit(f"chat:{party_id}:{viewer_id}", limit)
    seq = await _next_seq(session, party_id)
    message = ChatMessage(
        party_id=party_id,
        author_id=viewer_id,
        body=body,
        reply_to_id=reply_to_id,
        client_id=client_id,
        seq=seq,
        created_at=now,
    )
    if client_id is None:  # nothing to race on: no savepoint (two statements fewer)
        session.add(message)
        await session.flush()
    else:
        try:
            async with session.begin_nested():
                session.add(message)
                await session.flush()
        except IntegrityError:
            # A concurrent retry with the same clientId committed first: answer with its message.
            found = await _existing(session, party_id, viewer_id, client_id)
            if found is None:
                raise
            return await full_payload(session, found)
    # Nobody can have reacted to a message not committed yet: no reactions read.
    author = {viewer_id: access.viewer} if access.viewer is not None else None
    (payload,) = await payloads_for(session, [message], author, fresh=True)
    await record(uow, party_channel(party_id), MessageAdded(message=payload))
    await notify_message(uow, access.party, message, reply)
    tracking.track(uow, "chat.message", user_id=viewer_id, party_id=party_id)
    return payload


async def _message_in(
    session: AsyncSession, raw_id: str, party_id: uuid.UUID
) -> ChatMessage | None:
    message_id = parse_id(raw_id)
    if message_id is None:
        return None
    return await session.scalar(
        select(ChatMessage).where(ChatMessage.id == message_id, ChatMessage.party_id == party_id)
    )


def _require_live(message: ChatMessage) -> None:
    if message.deleted_at is not None:
        raise NotFound(MESSAGE_NOT_FOUND)
    if message.hidden_at is not None:
        raise NotAllowed("A moderator hid this message.")


async def _publish_update(uow: UnitOfWork, message: ChatMessage) -> dict[str, Any]:
    payload = await full_payload(uow.session, message)
    await record(uow, party_channel(message.party_id), MessageUpdated(message=payload))
    return payload


# -- editing and deleting -----------------------------------------------------------------------


async def edit_message(
    uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str, body: str
) -> dict[str, Any]:
    text = clean_body(body)
    message, access = await load_message(uow.session, raw_id, viewer_id)
    _require_chat(access)
    _require_live(message)
    if message.author_id != viewer_id:
        raise NotAllowed("Only its author can edit a message.")
    mute = await mute_in_force(uow.session, message.party_id, viewer_id, utcnow())
    if mute is not None:  # editing is posting: a muted member cannot rewrite old messages
        raise Muted(mute.until)
    if text == message.body:
        return await full_payload(uow.session, message)  # nothing changed: no event
    message.body = text
    message.edited_at = utcnow()
    await uow.session.flush()
    return await _publish_update(uow, message)


async def _author_role(session: AsyncSession, message: ChatMessage) -> MemberRole | None:
    if message.author_id is None:
        return None
    return await session.scalar(
        select(PartyMember.role).where(
            PartyMember.party_id == message.party_id, PartyMember.user_id == message.author_id
        )
    )


async def delete_message(uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str) -> dict[str, Any]:
    """The tombstone. Deleting a deleted message changes nothing (and publishes nothing)."""
    session = uow.session
    message, access = await load_message(session, raw_id, viewer_id)
    own = message.author_id == viewer_id
    if not own:
        member = require_member(access)
        author_role = await _author_role(session, message) or MemberRole.MEMBER
        if not (access.at_least(MemberRole.MODERATOR) and can_act_on(member.role, author_role)):
            raise NotAllowed("Only its author or a moderator can delete this message.")
    if message.deleted_at is not None:
        return message_payload(message, await _author(session, message))
    message.deleted_at = utcnow()
    message.body = None
    await session.execute(delete(MessageReaction).where(MessageReaction.message_id == message.id))
    await session.flush()
    if not own:
        await record_action(
            session,
            party_id=message.party_id,
            actor_id=viewer_id,
            action="DELETE_MESSAGE",
            target_user_id=message.author_id,
            target_message_id=message.id,
        )
    await record(uow, party_channel(message.party_id), MessageDeleted(message_id=str(message.id)))
    return message_payload(message, await _author(session, message))


async def _author(session: AsyncSession, message: ChatMessage) -> User | None:
    return None if message.author_id is None else await session.get(User, message.author_id)


# -- reactions ----------------------------------------------------------------------------------


async def react(
    uow: UnitOfWork, viewer_id: uuid.UUID, raw_id: str, emoji: str, *, add: bool
) -> dict[str, Any]:
    """Add (or remove) the viewer's `emoji`; doing it twice is doing it once (no second event)."""
    _check_emoji(emoji)
    session = uow.session
    message, access = await load_message(session, raw_id, viewer_id)
    _require_chat(access)
    _require_live(message)
    limit = Limit.parse(uow.app.settings.rate_limit_reactions)
    await uow.app.limiter.hit(f"chat-react:{message.party_id}:{viewer_id}", limit)
    table: Any = MessageReaction.__table__
    if add:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(table).values(
            message_id=message.id, user_id=viewer_id, emoji=emoji, created_at=utcnow()
        )
        result: Any = await session.execute(stmt.on_conflict_do_nothing())
    else:
        result = await session.execute(
            delete(table).where(
                table.c.message_id == message.id,
                table.c.user_id == viewer_id,
                table.c.emoji == emoji,
            )
        )
    if not result.rowcount:
        return await full_payload(session, message)
    return await _publish_update(uow, message)


# -- typing -------------------------------------------------------------------------------------


async def set_typing(
    uow: UnitOfWork, viewer_id: uuid.UUID, party_id: str, typing: bool
) -> uuid.UUID:
    """Fan out `TypingChanged` (ephemeral, at once: nothing is stored). Extra typing=true within
    the throttle window are accepted but not re-broadcast; typing=false always is."""
    access = await load_party(uow.session, party_id, viewer_id)
    _require_chat(access)
    pid = access.party.id
    key = f"typing:{pid}:{viewer_id}"
    app = uow.app
    if typing:
        try:
            await app.limiter.hit(key, Limit.parse(app.settings.rate_limit_typing))
        except RateLimited:
            return pid
    else:
        await app.limiter.reset(key)  # typing again right after stopping is news
    event = TypingChanged(
        user_id=str(viewer_id), typing=typing, expires_in_ms=TYPING_TTL_MS if typing else None
    )
    await publish(app.hub, party_channel(pid), event)
    return pid
