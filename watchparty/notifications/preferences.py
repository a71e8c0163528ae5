"""Who gets what, where and when: notification preferences and the rules that read them. No
GraphQL.

- Kinds are grouped (`GROUP_OF`); a user turns each group's channels (in-app feed, push, email)
  on or off. Only changes are stored (`NotificationPreference.channels`); everything else is
  `DEFAULTS`, so a new default reaches everyone who never touched it.
- SECURITY is locked: every channel on, whatever is stored, and neither the pause nor quiet
  hours nor the email frequency hold it back.
- The global pause (`pausedUntil`) holds push and email back (the feed still fills): what is
  created while paused is never pushed or mailed instantly; a daily digest still lists it.
- Quiet hours (local time in `timeZone`) hold push only: a push due inside them is sent when
  they end, or dropped if the notification was read or expired meanwhile (`delivery_policy`).
- Email frequency: INSTANT (one email per new entry; a collapsed entry that grows is not mailed
  again), DAILY (one digest per day at `DIGEST_LOCAL_HOUR` local time) or NEVER.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.db import upsert_insert
from watchparty.errors import ValidationProblem
from watchparty.notifications.models import (
    EmailFrequency,
    NotificationKind,
    NotificationPreference,
)

K = NotificationKind
DIGEST_LOCAL_HOUR = 8  # the daily digest goes out after 08:00 in the user's time zone
MAX_PAUSE = timedelta(days=366)


class NotificationGroup(StrEnum):
    PARTIES = "PARTIES"  # invites, join requests and answers, roles, handovers, removals
    REMINDERS = "REMINDERS"  # scheduled parties starting soon / started
    CHAT = "CHAT"  # mentions and replies
    POLLS = "POLLS"
    VIDEOS = "VIDEOS"
    SECURITY = "SECURITY"  # locked on
    BILLING = "BILLING"
    ANNOUNCEMENTS = "ANNOUNCEMENTS"


class Channel(StrEnum):
    IN_APP = "inApp"
    PUSH = "push"
    EMAIL = "email"


G = NotificationGroup
GROUP_OF: dict[NotificationKind, NotificationGroup] = {
    K.PARTY_INVITE: G.PARTIES,
    K.JOIN_REQUEST: G.PARTIES,
    K.JOIN_APPROVED: G.PARTIES,
    K.JOIN_REJECTED: G.PARTIES,
    K.ROLE_CHANGED: G.PARTIES,
    K.HOST_TRANSFERRED: G.PARTIES,
    K.KICKED: G.PARTIES,
    K.BANNED: G.PARTIES,
    K.PARTY_STARTING_SOON: G.REMINDERS,
    K.PARTY_STARTED: G.REMINDERS,
    K.MENTION: G.CHAT,
    K.REPLY: G.CHAT,
    K.POLL_OPENED: G.POLLS,
    K.VIDEO_READY: G.VIDEOS,
    K.VIDEO_FAILED: G.VIDEOS,
    K.NEW_SIGN_IN: G.SECURITY,
    K.PASSWORD_CHANGED: G.SECURITY,
    K.SESSION_REVOKED: G.SECURITY,
    K.PAYMENT_SUCCEEDED: G.BILLING,
    K.PAYMENT_FAILED: G.BILLING,
    K.PAYMENT_ACTION_REQUIRED: G.BILLING,
    K.SUBSCRIPTION_CHANGED: G.BILLING,
    K.TRIAL_ENDING: G.BILLING,
    K.ANNOUNCEMENT: G.ANNOUNCEMENTS,
}
LOCKED = frozenset({G.SECURITY})

# A new account: everything in the feed; push for what wants you now; email for what matters
# when you are away (chat and polls are too chatty to mail).
DEFAULTS: dict[NotificationGroup, dict[Channel, bool]] = {
    G.PARTIES: {Channel.IN_APP: True, Channel.PUSH: True, Channel.EMAIL: True},
    G.REMINDERS: {Channel.IN_APP: True, Channel.PUSH: True, Channel.EMAIL: True},
    G.CHAT: {Channel.IN_APP: True, Channel.PUSH: True, Channel.EMAIL: False},
    G.POLLS: {Channel.IN_APP: True, Channel.PUSH: False, Channel.EMAIL: False},
    G.VIDEOS: {Channel.IN_APP: True, Channel.PUSH: True, Channel.EMAIL: True},
    G.SECURITY: {Channel.IN_APP: True, Channel.PUSH: True, Channel.EMAIL: True},
    G.BILLING: {Channel.IN_APP: True, Channel.PUSH: False, Channel.EMAIL: True},
    G.ANNOUNCEMENTS: {Channel.IN_APP: True, Channel.PUSH: False, Channel.EMAIL: False},
}
DEFAULT_FREQUENCY = EmailFrequency.INSTANT
DEFAULT_TIME_ZONE = "UTC"

assert set(GROUP_OF) == set(NotificationKind), "every kind belongs to a group"


def group_of(kind: NotificationKind) -> NotificationGroup:
    return GROUP_OF[kind]


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's effective settings (stored changes over the defaults)."""

    channels: dict[NotificationGroup, dict[Channel, bool]]
    email_frequency: EmailFrequency
    time_zone: str
    quiet_start_minute: int | None
    quiet_end_minute: int | None
    paused_until: datetime | None

    def wants(self, kind: NotificationKind, channel: Channel) -> bool:
        group = group_of(kind)
        return group in LOCKED or self.channels[group][channel]

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet hours `now` falls in end (UTC), or None outside them."""
        start, end = self.quiet_start_minute, self.quiet_end_minute
        if start is None or end is None:
            return None
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        inside = start <= minute < end if start < end else minute >= start or minute < end
        if not inside:
            return None
        end_day = local.date()
        if start > end and minute >= start:
            end_day += timedelta(days=1)
        end_local = datetime.combine(end_day, time(end // 60, end % 60), tzinfo=self.zone)
        return end_local.astimezone(now.tzinfo)


def effective(row: NotificationPreference | None) -> Preferences:
    channels = {group: dict(values) for group, values in DEFAULTS.items()}
    if row is None:
        return Preferences(channels, DEFAULT_FREQUENCY, DEFAULT_TIME_ZONE, None, None, None)
    for group_name, values in (row.channels or {}).items():
        try:
            group = NotificationGroup(group_name)
        except ValueError:
            continue  # a group a newer release removed
        if group in LOCKED:
            continue
        for channel_name, on in values.items():
            try:
                channels[group][Channel(channel_name)] = bool(on)
            except ValueError:
                continue
    return Preferences(
        channels,
        row.email_frequency,
        row.time_zone,
        row.quiet_start_minute,
        row.quiet_end_minute,
        row.paused_until,
    )


async def load_many(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Preferences]:
    """Every user's effective preferences in one statement (defaults for those without a row)."""
    ids = list(dict.fromkeys(user_ids))
    rows = {
        row.user_id: row
        for row in await session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id.in_(ids))
        )
    }
    return {user_id: effective(rows.get(user_id)) for user_id in ids}


async def load(session: AsyncSession, user_id: uuid.UUID) -> Preferences:
    return (await load_many(session, [user_id]))[user_id]


# -- changing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupChange:
    group: NotificationGroup
    in_app: bool | None = None
    push: bool | None = None
    email: bool | None = None


_UNSET: Any = object()


def check_time_zone(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or name not in _zones():
        raise ValidationProblem(
            "Unknown time zone: give an IANA name such as Europe/Paris.", field="timeZone"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationProblem("Unknown time zone.", field="timeZone") from None
    return name


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
        _ZONES.add("UTC")
    return _ZONES


def check_minute(value: int, field: str) -> int:
    if not 0 <= value < 24 * 60:
        raise ValidationProblem("Give minutes after midnight, 0 to 1439.", field=field)
    return value


async def _locked_row(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> NotificationPreference:
    """The user's row, created with the defaults if missing, locked for this transaction. Two
    first changes at once both insert: ON CONFLICT DO NOTHING lets one win, the other waits."""
    upsert = upsert_insert(session)
    await session.execute(
        upsert(NotificationPreference)
        .values(
            user_id=user_id,
            channels={},
            email_frequency=DEFAULT_FREQUENCY,
            time_zone=DEFAULT_TIME_ZONE,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    row = await session.scalar(
        select(NotificationPreference)
        .where(NotificationPreference.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def update(
    session: AsyncSession,
    user_id: uuid.UUID,
    now: datetime,
    *,
    groups: list[GroupChange] | None = None,
    email_frequency: EmailFrequency | None = None,
    time_zone: str | None = None,
    quiet_hours: tuple[int, int] | None = _UNSET,
    paused_until: datetime | None = _UNSET,
) -> Preferences:
    """Apply the given changes (omitted ones keep their value); `quiet_hours=None` turns quiet
    hours off, `paused_until=None` resumes."""
    row = await _locked_row(session, user_id, now)
    if groups is not None:
        if len(groups) > len(NotificationGroup):
            raise ValidationProblem("At most one entry per group.", field="groups")
        seen: set[NotificationGroup] = set()
        channels = {name: dict(values) for name, values in (row.channels or {}).items()}
        for change in groups:
            if change.group in seen:
                raise ValidationProblem(f"{change.group} is given twice.", field="groups")
            seen.add(change.group)
            asked = {
                Channel.IN_APP: change.in_app,
                Channel.PUSH: change.push,
                Channel.EMAIL: change.email,
            }
            if change.group in LOCKED:
                if any(value is False for value in asked.values()):
                    raise ValidationProblem(
                        "Security notifications cannot be turned off.", field="groups"
                    )
                continue
            stored = channels.setdefault(change.group.value, {})
            for channel, value in asked.items():
                if value is not None:
                    stored[channel.value] = value
        row.channels = channels
    if email_frequency is not None:
        row.email_frequency = email_frequency
    if time_zone is not None:
        row.time_zone = check_time_zone(time_zone)
    if quiet_hours is not _UNSET:
        if quiet_hours is None:
            row.quiet_start_minute = row.quiet_end_minute = None
        else:
            start = check_minute(quiet_hours[0], "quietHours.startMinute")
            end = check_minute(quiet_hours[1], "quietHours.endMinute")
            if start == end:
                raise ValidationProblem(
                    "Quiet hours need a different start and end.", field="quietHours"
                )
            row.quiet_start_minute, row.quiet_end_minute = start, end
    if paused_until is not _UNSET:
        if paused_until is not None and paused_until > now + MAX_PAUSE:
            raise ValidationProblem("Pause for at most a year.", field="pausedUntil")
        row.paused_until = None if paused_until is None or paused_until <= now else paused_until
    await session.flush()
    return effective(row)
