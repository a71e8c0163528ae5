"""Parties: the party (with its playback timeline), memberships, the queue, invite links and the
moderation log.

The timeline lives on the party row so that a control is one guarded row update
(`UPDATE parties SET ... WHERE id = :id AND revision = :expected`): two API processes can never
both write revision N+1. `timeline_of` and `timeline_values` convert between the row and the pure
`Timeline` of `watchparty.parties.timeline`.

Enumerations are stored as their names in plain VARCHAR columns (no native database enums and no
CHECK constraints): adding a value later needs no migration, and SQLite batch migrations stay
simple. Relationships are deliberately absent; services load what they need explicitly.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.kit.time import utcnow
from watchparty.parties.codes import CODE_LENGTH
from watchparty.parties.timeline import PlaybackState, Segment, Timeline

TITLE_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000
URL_MAX_LENGTH = 2048
DEFAULT_MAX_MEMBERS = 50
DEFAULT_BUFFERING_TIMEOUT_SECONDS = 8
DEFAULT_MAX_SCREEN_SHARES = 1
QUEUE_MAX_ITEMS = 200  # items in one party's queue (addToQueue refuses more)
QUEUE_PAGE_DEFAULT = 20  # `Party.queue` without `first`, like other pages
REASON_MAX_LENGTH = 500  # a moderation reason (the log's, and a chat mute's)


class PartyVisibility(StrEnum):
    PUBLIC = "PUBLIC"
    UNLISTED = "UNLISTED"
    PRIVATE = "PRIVATE"


class PartyStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    ENDED = "ENDED"


class ControlPolicy(StrEnum):
    HOST_ONLY = "HOST_ONLY"
    HOSTS = "HOSTS"  # the host and co-hosts
    EVERYONE = "EVERYONE"


class PollPolicy(StrEnum):
    MODERATORS = "MODERATORS"  # the host, co-hosts and moderators
    EVERYONE = "EVERYONE"


class MemberRole(StrEnum):
    HOST = "HOST"
    COHOST = "COHOST"
    MODERATOR = "MODERATOR"
    MEMBER = "MEMBER"


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"  # waiting for approval
    LEFT = "LEFT"
    KICKED = "KICKED"
    BANNED = "BANNED"


def _enum(cls: type[StrEnum]) -> Enum:
    # Room to grow: new values fit without altering the column.
    return Enum(cls, native_enum=False, create_constraint=False, length=20)


class Party(IdMixin, TimestampMixin, Base):
    __tablename__ = "parties"
    __table_args__ = (
        Index("ix_parties_visibility_status", "visibility", "status"),
        # The reminder sweep: SCHEDULED parties whose start is due (parties/reminders.py).
        Index("ix_parties_status_scheduled_start", "status", "scheduled_start"),
    )

    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)  # canonical, upper-case
    visibility: Mapped[PartyVisibility] = mapped_column(
        _enum(PartyVisibility), default=PartyVisibility.PUBLIC
    )
    status: Mapped[PartyStatus] = mapped_column(_enum(PartyStatus), default=PartyStatus.SCHEDULED)
    host_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    max_members: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_MEMBERS)
    require_approval: Mapped[bool] = mapped_column(default=False)
    control_policy: Mapped[ControlPolicy] = mapped_column(
        _enum(ControlPolicy), default=ControlPolicy.HOST_ONLY
    )
    chat_enabled: Mapped[bool] = mapped_column(default=True)
    reactions_enabled: Mapped[bool] = mapped_column(default=True)
    wait_for_buffering: Mapped[bool] = mapped_column(default=True)
    buffering_timeout_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_BUFFERING_TIMEOUT_SECONDS
    )
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)  # 0: off
    poll_policy: Mapped[PollPolicy] = mapped_column(
        _enum(PollPolicy), default=PollPolicy.MODERATORS
    )
    max_screen_shares: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_SCREEN_SHARES)
    scheduled_start: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]  # soft delete: hidden everywhere, kept for history
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # The playback timeline (see watchparty.parties.timeline); `revision` guards every update.
    playback_state: Mapped[PlaybackState] = mapped_column(
        _enum(PlaybackState), default=PlaybackState.IDLE
    )
    # No foreign key: the service keeps it pointing into the queue (removing the current item
    # moves the timeline on in the same transaction), and parties <-> queue_items would be a cycle.
    current_item_id: Mapped[uuid.UUID | None]
    position_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    anchor_ms: Mapped[float] = mapped_column(Double, default=0.0)  # server epoch milliseconds
    rate: Mapped[float] = mapped_column(Double, default=1.0)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    waiting_for: Mapped[list[str]] = mapped_column(JSON, default=list)  # user ids, sorted
    wait_deadline_ms: Mapped[float | None] = mapped_column(Double)
    # The segment a change anchored in the future replaces (`segment_values`), until the anchor.
    playback_previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    playback_updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PartyMember(IdMixin, Base):
    __tablename__ = "party_members"
    __table_args__ = (
        UniqueConstraint("party_id", "user_id"),
        Index("ix_party_members_party_status", "party_id", "status"),
    )

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole), default=MemberRole.MEMBER)
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus), default=MemberStatus.ACTIVE)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)  # or asked to join, when PENDING
    left_at: Mapped[datetime | None]
    banned_until: Mapped[datetime | None]  # None with status BANNED: banned for good
    ignore_wait: Mapped[bool] = mapped_column(default=False)
    last_drift_ms: Mapped[float | None] = mapped_column(Double)
    last_rtt_ms: Mapped[float | None] = mapped_column(Double)


class QueueItem(IdMixin, TimestampMixin, Base):
    """One entry of a party's queue. `position` orders it; gaps are fine, ties are not wanted."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_party_position", "party_id", "position"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(URL_MAX_LENGTH))
    video_id: Mapped[uuid.UUID | None]  # a library video (the videos domain comes later)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH * 2))
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class InviteLink(IdMixin, TimestampMixin, Base):
    """A link that lets its holder join; only the token's SHA-256 is stored (see codes.py)."""

    __tablename__ = "invite_links"

    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]


class ReminderKind(StrEnum):
    STARTING_SOON = "STARTING_SOON"
    STARTED = "STARTED"


class PartyReminder(IdMixin, Base):
    """A scheduled party's reminder that was handled for one `scheduledStart`: sent, or skipped
    (`skipped`: the party was scheduled less than the lead time ahead). Inserted in the
    transaction that writes the notifications; the unique key makes each reminder fire at most
    once per party and start time, however many jobs, workers and sweeps try
    (`parties/reminders.py`)."""

    __tablename__ = "party_reminders"
    __table_args__ = (UniqueConstraint("party_id", "kind", "scheduled_start"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    kind: Mapped[ReminderKind] = mapped_column(_enum(ReminderKind))
    scheduled_start: Mapped[datetime]
    skipped: Mapped[bool] = mapped_column(default=False)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModerationAction(StrEnum):
    HIDE_MESSAGE = "HIDE_MESSAGE"
    UNHIDE_MESSAGE = "UNHIDE_MESSAGE"
    DELETE_MESSAGE = "DELETE_MESSAGE"
    MUTE = "MUTE"
    UNMUTE = "UNMUTE"
    KICK = "KICK"
    BAN = "BAN"
    UNBAN = "UNBAN"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    SET_ROLE = "SET_ROLE"
    TRANSFER_HOST = "TRANSFER_HOST"
    SLOW_MODE = "SLOW_MODE"


class ModerationLogEntry(IdMixin, TimestampMixin, Base):
    """One moderation action, appended by `moderation_log.record_action` (members' actions here,
    chat's mutes, slow mode and hidden messages in `chat.moderation`). Append-only; actors and
    targets are ids that turn NULL when the account is deleted, so the entry (what happened,
    when, why) survives its people."""

    __tablename__ = "party_moderation_log"
    __table_args__ = (Index("ix_party_moderation_log_party_created", "party_id", "created_at"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[ModerationAction] = mapped_column(
        Enum(ModerationAction, native_enum=False, create_constraint=False, length=20)
    )
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # A name, not an import: the table is chat's (chat is built on parties).
    target_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="SET NULL")
    )
    # The text of a hidden message when it was hidden (shown to moderators while the message is
    # not deleted: deletion takes the content out of every read, the log included).
    body_snapshot: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    until: Mapped[datetime | None]
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def timeline_of(party: Party, duration: float | None) -> Timeline:
    """The party's timeline; `duration` is the current queue item's (None when unknown).

    A stored position past a (since corrected) duration is clamped rather than refused.
    """
    position = party.position_seconds
    if duration is not None:
        position = min(position, duration)
    waiting = party.playback_state is PlaybackState.WAITING
    return Timeline(
        state=party.playback_state,
        item_id=None if party.current_item_id is None else str(party.current_item_id),
        position=position,
        anchor_ms=party.anchor_ms,
        rate=party.rate,
        revision=party.revision,
        duration=duration,
        waiting_for=frozenset(party.waiting_for) if waiting else frozenset(),
        wait_deadline_ms=party.wait_deadline_ms if waiting else None,
        previous=segment_of(party.playback_previous, party.anchor_ms),
    )


def segment_values(segment: Segment | None) -> dict[str, Any] | None:
    """The JSON stored in `playback_previous` (the API's `previous` field names)."""
    if segment is None:
        return None
    return {
        "state": str(segment.state),
        "positionSeconds": segment.position,
        "anchorServerTimeMs": segment.anchor_ms,
        "rate": segment.rate,
    }


def segment_of(values: dict[str, Any] | None, anchor_ms: float) -> Segment | None:
    """The stored segment back; None when absent or not anchored before `anchor_ms`."""
    if not values:
        return None
    segment = Segment(
        PlaybackState(values["state"]),
        float(values["positionSeconds"]),
        float(values["anchorServerTimeMs"]),
        float(values["rate"]),
    )
    return segment if segment.anchor_ms <= anchor_ms else None


def timeline_values(timeline: Timeline) -> dict[str, Any]:
    """Column values of `timeline` for `update(Party).values(...)` (duration is the item's)."""
    return {
        "playback_state": timeline.state,
        "current_item_id": None if timeline.item_id is None else uuid.UUID(timeline.item_id),
        "position_seconds": timeline.position,
        "anchor_ms": timeline.anchor_ms,
        "rate": timeline.rate,
        "revision": timeline.revision,
        "waiting_for": sorted(timeline.waiting_for),
        "wait_deadline_ms": timeline.wait_deadline_ms,
        "playback_previous": segment_values(timeline.previous),
    }
