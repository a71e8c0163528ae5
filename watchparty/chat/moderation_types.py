"""GraphQL types of chat moderation, and the reads behind `Party.moderationLog`, `Party.mutes`
and `Party.myMute` (each in a short session of its own: sibling fields resolve concurrently).

People (actor, target, muted by) resolve through the per-operation user loader: one batched
read per page, whatever its size.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from sqlalchemy import and_, func, or_, select

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.chat import moderation
from watchparty.chat.models import ChatMessage
from watchparty.chat.moderation_models import PartyMute
from watchparty.context import Info
from watchparty.gql.errors import errors_mapped_by
from watchparty.gql.pagination import PageInfo
from watchparty.kit.pagination import (
    decode_time_cursor,
    encode_cursor,
    page_size,
)
from watchparty.parties import models as party_models
from watchparty.parties.authz import at_least
from watchparty.parties.error_types import to_party_error
from watchparty.parties.models import MemberRole, ModerationAction
from watchparty.parties.types import Party

strawberry.enum(ModerationAction, description="What a moderation log entry records.")


async def _user(info: Info, user_id: uuid.UUID | None) -> User | None:
    if user_id is None:
        return None
    user = await user_loader_of(info.context.loaders).load(user_id)
    return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)


@strawberry.type(description="A member who may not post chat messages in a party for now.")
class MemberMute:
    until: datetime | None = strawberry.field(description="Null: until unmuted.")
    reason: str | None
    created_at: datetime = strawberry.field(description="When the mute was (last) set.")
    _user_id: strawberry.Private[uuid.UUID]
    _muted_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, mute: PartyMute) -> MemberMute:
        return cls(
            until=mute.until,
            reason=mute.reason,
            created_at=mute.created_at,
            _user_id=mute.user_id,
            _muted_by_id=mute.muted_by_id,
        )

    @strawberry.field(description="The muted member (null only if that account is gone).")
    async def user(self, info: Info) -> User | None:
        return await _user(info, self._user_id)

    @strawberry.field(description="Who muted them (null if that account is gone).")
    async def muted_by(self, info: Info) -> User | None:
        return await _user(info, self._muted_by_id)


@strawberry.type(description="The message a log entry is about.")
class ModeratedMessage:
    id: strawberry.ID
    deleted: bool = strawberry.field(description="Deleted since (its text is gone for good).")
    body_snapshot: str | None = strawberry.field(
        description="For HIDE_MESSAGE: the text when it was hidden (null once deleted)."
    )


@strawberry.type(description="One moderation action: who did what to whom, when and why.")
class ModerationLogEntry:
    id: strawberry.ID
    action: ModerationAction
    reason: str | None
    until: datetime | None = strawberry.field(
        description="MUTE and BAN: when it ends (null: indefinitely)."
    )
    role: MemberRole | None = strawberry.field(
        description="SET_ROLE: the role given (TRANSFER_HOST: HOST)."
    )
    seconds: int | None = strawberry.field(description="SLOW_MODE: the new value (0: off).")
    message: ModeratedMessage | None = strawberry.field(
        description="HIDE_MESSAGE, UNHIDE_MESSAGE and DELETE_MESSAGE: the message."
    )
    created_at: datetime
    _actor_id: strawberry.Private[uuid.UUID | None]
    _target_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(
        cls, entry: party_models.ModerationLogEntry, message_deleted: bool
    ) -> ModerationLogEntry:
        details = entry.details or {}
        message = None
        if entry.target_message_id is not None:
            message = ModeratedMessage(
                id=strawberry.ID(str(entry.target_message_id)),
                deleted=message_deleted,
                body_snapshot=None if message_deleted else entry.body_snapshot,
            )
        role = details.get("role")
        return cls(
            id=strawberry.ID(str(entry.id)),
            action=entry.action,
            reason=entry.reason,
            until=entry.until,
            role=None if role is None else MemberRole(role),
            seconds=details.get("seconds"),
            message=message,
            created_at=entry.created_at,
            _actor_id=entry.actor_id,
            _target_id=entry.target_user_id,
        )

    @strawberry.field(description="Who acted (null if that account is gone).")
    async def actor(self, info: Info) -> User | None:
        return await _user(info, self._actor_id)

    @strawberry.field(description="The member acted on (null for SLOW_MODE or a gone account).")
    async def target(self, info: Info) -> User | None:
        return await _user(info, self._target_id)


@strawberry.type
class ModerationLogEdge:
    cursor: str
    node: ModerationLogEntry


@strawberry.type
class ModerationLogConnection:
    edges: list[ModerationLogEdge]
    page_info: PageInfo
    total_count: int


# -- inputs and payloads -----------------------------------------------------------------------


@strawberry.input
class MuteMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    until: datetime | None = strawberry.field(
        default=None, description="Null: until unmuted; otherwise in the future, at most a year."
    )
    reason: str | None = strawberry.field(default=None, description="At most 500 characters.")


@strawberry.input
class UnmuteMemberInput:
    party_id: strawberry.ID
    user_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="At most 500 characters.")


@strawberry.input
class SetSlowModeInput:
    party_id: strawberry.ID
    seconds: int = strawberry.field(description="0 (off) to 3600.")


@strawberry.input
class HideMessageInput:
    message_id: strawberry.ID
    reason: str | None = strawberry.field(default=None, description="At most 500 characters.")


@strawberry.input
class UnhideMessageInput:
    message_id: strawberry.ID


@strawberry.type
class MuteMemberPayload:
    mute: MemberMute


@strawberry.type
class UnmuteMemberPayload:
    party_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class SetSlowModePayload:
    party: Party


returns_moderation_errors = errors_mapped_by(to_party_error)


# -- reads behind Party fields -----------------------------------------------------------------


async def moderation_log(
    info: Info, party_id: uuid.UUID, role: MemberRole | None, first: int | None, after: str | None
) -> ModerationLogConnection | None:
    """Newest first; null unless the viewer is a moderator or above."""
    if not at_least(role, MemberRole.MODERATOR):
        return None
    limit = page_size(first)
    key = decode_time_cursor(after)
    entry = party_models.ModerationLogEntry
    query = (
        select(entry, ChatMessage.deleted_at)
        .outerjoin(ChatMessage, ChatMessage.id == entry.target_message_id)
        .where(entry.party_id == party_id)
        .order_by(entry.created_at.desc(), entry.id.desc())
    )
    if key is not None:
        created_at, entry_id = key
        query = query.where(
            or_(
                entry.created_at < created_at,
                and_(entry.created_at == created_at, entry.id < entry_id),
            )
        )
    async with info.context.state.sessionmaker() as session:
        total = await session.scalar(select(func.count()).where(entry.party_id == party_id))
        rows = list((await session.execute(query.limit(limit + 1))).all())
    edges = [
        ModerationLogEdge(
            cursor=encode_cursor(row.created_at.isoformat(), str(row.id)),
            node=ModerationLogEntry.from_model(row, deleted_at is not None),
        )
        for row, deleted_at in rows[:limit]
    ]
    cursors = [e.cursor for e in edges]
    return ModerationLogConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit,
            has_previous_page=key is not None,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count=int(total or 0),
    )


async def party_mutes(
    info: Info, party_id: uuid.UUID, role: MemberRole | None
) -> list[MemberMute] | None:
    if not at_least(role, MemberRole.MODERATOR):
        return None
    async with info.context.state.sessionmaker() as session:
        mutes = await moderation.mutes_in_force(session, party_id)
    return [MemberMute.from_model(m) for m in mutes]


async def my_mute(info: Info, party_id: uuid.UUID) -> MemberMute | None:
    viewer_id = info.context.viewer_id
    if viewer_id is None:
        return None
    async with info.context.state.sessionmaker() as session:
        mutes = await moderation.mutes_in_force(session, party_id, viewer_id)
    return MemberMute.from_model(mutes[0]) if mutes else None
