"""The notification feed: one row per entry a user sees (a collapsed group is one row).

Collapsing is race-safe through a partial unique index: at most one UNREAD row per
(recipient, group key). `notifications.service.notify` inserts with ON CONFLICT DO NOTHING
against that index (PostgreSQL and SQLite both infer a partial index), then grows the rows that
conflicted under a row lock (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer).
Reading a group's row takes it out of the index, so the next one starts a fresh row.

Enumerations are VARCHAR columns holding member names (like the other domains).

Push: `PushDevice` is one registered FCM token (a token belongs to one account at a time and,
when registered from a sign-in, to that sign-in: revoking it removes the device).
`PushDelivery` is the idempotency record of one notification to one token: claimed (committed)
before the send, so a notification is never pushed twice to one device (`notifications.push`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from watchparty.db import Base, IdMixin, TimestampMixin
from watchparty.kit.time import utcnow

TITLE_MAX_LENGTH = 80  # sized for a push banner
BODY_MAX_LENGTH = 180
GROUP_KEY_MAX_LENGTH = 200
ACTION_PATH_MAX_LENGTH = 300
EMAIL_PENDING = "email_due_at IS NOT NULL AND emailed_at IS NULL"
PUSH_TOKEN_MAX_LENGTH = 1024
DEVICE_NAME_MAX_LENGTH = 100
RECENT_ACTORS = 20  # distinct actors remembered per collapsed entry (counted exactly up to this)


class NotificationKind(StrEnum):
    PARTY_INVITE = "PARTY_INVITE"
    JOIN_REQUEST = "JOIN_REQUEST"
    JOIN_APPROVED = "JOIN_APPROVED"
    JOIN_REJECTED = "JOIN_REJECTED"
    ROLE_CHANGED = "ROLE_CHANGED"
    HOST_TRANSFERRED = "HOST_TRANSFERRED"
    KICKED = "KICKED"
    BANNED = "BANNED"
    PARTY_STARTING_SOON = "PARTY_STARTING_SOON"
    PARTY_STARTED = "PARTY_STARTED"
    MENTION = "MENTION"
    REPLY = "REPLY"
    POLL_OPENED = "POLL_OPENED"
    VIDEO_READY = "VIDEO_READY"
    VIDEO_FAILED = "VIDEO_FAILED"
    NEW_SIGN_IN = "NEW_SIGN_IN"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # noqa: S105 (a kind, not a secret)
    SESSION_REVOKED = "SESSION_REVOKED"
    PAYMENT_SUCCEEDED = "PAYMENT_SUCCEEDED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"  # the bank asks the payer to confirm
    SUBSCRIPTION_CHANGED = "SUBSCRIPTION_CHANGED"
    TRIAL_ENDING = "TRIAL_ENDING"
    ANNOUNCEMENT = "ANNOUNCEMENT"


class SubjectType(StrEnum):
    PARTY = "PARTY"
    MESSAGE = "MESSAGE"
    VIDEO = "VIDEO"
    SUBSCRIPTION = "SUBSCRIPTION"


def _enum(cls: type[StrEnum], length: int) -> Enum:
    return Enum(cls, native_enum=False, create_constraint=False, length=length)


class Notification(IdMixin, TimestampMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The feed, newest first (and `upTo`): (recipient, updated_at, id).
        Index("ix_notifications_recipient_updated", "recipient_id", "updated_at", "id"),
        # At most one unread entry per group: what collapsing upserts against.
        Index(
            "uq_notifications_unread_group",
            "recipient_id",
            "group_key",
            unique=True,
            postgresql_where=text("read_at IS NULL AND group_key IS NOT NULL"),
            sqlite_where=text("read_at IS NULL AND group_key IS NOT NULL"),
        ),
        Index("ix_notifications_expires_at", "expires_at"),
        # The instant emails not sent yet (the sweep's query).
        Index(
            "ix_notifications_email_due",
            "email_due_at",
            postgresql_where=text(EMAIL_PENDING),
            sqlite_where=text(EMAIL_PENDING),
        ),
        # Unread entries by last update: the push sweep's window (`push.send_due_pushes`).
        Index(
            "ix_notifications_unread_updated",
            "updated_at",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
        # Read entries past their retention, for the retention job (`notifications.retention`).
        Index(
            "ix_notifications_read_at",
            "read_at",
            postgresql_where=text("read_at IS NOT NULL"),
            sqlite_where=text("read_at IS NOT NULL"),
        ),
    )

    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind, 40))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_count: Mapped[int] = mapped_column(Integer, default=0)
    # The most recent distinct actors (newest last), to count distinct ones when collapsing.
    actor_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_type: Mapped[SubjectType | None] = mapped_column(_enum(SubjectType, 20))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    group_key: Mapped[str | None] = mapped_column(String(GROUP_KEY_MAX_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    body: Mapped[str] = mapped_column(String(BODY_MAX_LENGTH))
    action_path: Mapped[str | None] = mapped_column(String(ACTION_PATH_MAX_LENGTH))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    # False when the recipient turned the feed off for this kind's group but push or email is
    # on: the row exists only to be delivered (never listed, counted or streamed).
    in_app: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set when an instant email is due (the sweep finds those whose job was lost); `emailed_at`
    # is claimed (set) before an email about it is sent, instantly or in a digest: at most once.
    email_due_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]


class EmailFrequency(StrEnum):
    INSTANT = "INSTANT"
    DAILY = "DAILY"
    NEVER = "NEVER"


class NotificationPreference(TimestampMixin, Base):
    """A user's notification settings; no row means the defaults (`preferences.DEFAULTS`).

    `channels` holds only what the user changed: {group: {"inApp"|"push"|"email": bool}}.
    Quiet hours are minutes after local midnight in `time_zone` (an IANA name); start == end
    is not allowed, start > end spans midnight.
    """

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channels: Mapped[dict[str, dict[str, bool]]] = mapped_column(JSON, default=dict)
    email_frequency: Mapped[EmailFrequency] = mapped_column(
        _enum(EmailFrequency, 10), default=EmailFrequency.INSTANT
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start_minute: Mapped[int | None] = mapped_column(Integer)
    quiet_end_minute: Mapped[int | None] = mapped_column(Integer)
    paused_until: Mapped[datetime | None]
    # The local date of the last daily digest (claimed before it is sent: one per day).
    digest_sent_on: Mapped[date | None] = mapped_column(Date)


class PushPlatform(StrEnum):
    WEB = "WEB"
    ANDROID = "ANDROID"
    IOS = "IOS"


class PushDevice(IdMixin, TimestampMixin, Base):
    __tablename__ = "push_devices"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The sign-in that registered it: revoking that sign-in removes the device.
    auth_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(PUSH_TOKEN_MAX_LENGTH), unique=True)
    platform: Mapped[PushPlatform] = mapped_column(_enum(PushPlatform, 10))
    device_name: Mapped[str | None] = mapped_column(String(DEVICE_NAME_MAX_LENGTH))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushDeliveryState(StrEnum):
    SENDING = "SENDING"  # claimed: a send is (or was, if its worker died) in flight; never again
    SENT = "SENT"
    RETRY = "RETRY"  # FCM failed for a moment: the job's next run claims it again
    FAILED = "FAILED"  # for good (a dead token, a rejected message, retries used up)


class PushDelivery(IdMixin, TimestampMixin, Base):
    """One notification to one token: at most one send, ever (see `notifications.push`)."""

    __tablename__ = "push_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "token"),)

    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    # The token, not the device: the record outlives a device that is removed and registered
    # again, so the same notification still never reaches that token twice.
    token: Mapped[str] = mapped_column(String(PUSH_TOKEN_MAX_LENGTH))
    state: Mapped[PushDeliveryState] = mapped_column(_enum(PushDeliveryState, 10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(40))  # the FCM error code of a failure
    message_id: Mapped[str | None] = mapped_column(String(200))  # FCM's name of a sent message
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
