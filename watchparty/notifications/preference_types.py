"""GraphQL types of notification preferences (`notificationPreferences`,
`updateNotificationPreferences`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

# Declares NotificationKind's GraphQL enum (with its description) before this module uses it:
# used first here, Strawberry would make a second, bare definition of it.
import watchparty.notifications.types  # noqa: F401
from watchparty.notifications import preferences
from watchparty.notifications.models import EmailFrequency, NotificationKind
from watchparty.notifications.preferences import Channel, NotificationGroup, Preferences

strawberry.enum(
    NotificationGroup,
    description="Kinds grouped for preferences. SECURITY cannot be turned off.",
)
strawberry.enum(
    EmailFrequency,
    name="NotificationEmailFrequency",
    description="INSTANT: one email per new notification; DAILY: one digest a day after 08:00 "
    "local time; NEVER. Security emails are always instant.",
)


@strawberry.type(description="One group's channels.")
class NotificationGroupPreference:
    group: NotificationGroup

    @strawberry.field(description="The kinds it holds.")
    def kinds(self) -> list[NotificationKind]:
        return [kind for kind, of in preferences.GROUP_OF.items() if of is self.group]

    in_app: bool = strawberry.field(description="Listed in the feed (and its badge).")
    push: bool
    email: bool
    locked: bool = strawberry.field(description="True for SECURITY: always on.")


@strawberry.type(description="Local time of day, minutes after midnight (0..1439).")
class QuietHours:
    start_minute: int
    end_minute: int = strawberry.field(
        description="When push resumes; smaller than start: the quiet hours span midnight."
    )


@strawberry.type
class NotificationPreferences:
    groups: list[NotificationGroupPreference]
    email_frequency: EmailFrequency
    time_zone: str = strawberry.field(description="IANA name; quiet hours and the digest use it.")
    quiet_hours: QuietHours | None = strawberry.field(
        description="Push is held during them and sent when they end (dropped if read or "
        "expired meanwhile). Null: none."
    )
    paused_until: datetime | None = strawberry.field(
        description="Until then nothing is pushed or emailed instantly (security excepted); "
        "the feed still fills."
    )

    @classmethod
    def from_preferences(cls, prefs: Preferences, now: datetime) -> NotificationPreferences:
        groups = [
            NotificationGroupPreference(
                group=group,
                in_app=prefs.channels[group][Channel.IN_APP] or group in preferences.LOCKED,
                push=prefs.channels[group][Channel.PUSH] or group in preferences.LOCKED,
                email=prefs.channels[group][Channel.EMAIL] or group in preferences.LOCKED,
                locked=group in preferences.LOCKED,
            )
            for group in NotificationGroup
        ]
        quiet = None
        if prefs.quiet_start_minute is not None and prefs.quiet_end_minute is not None:
            quiet = QuietHours(
                start_minute=prefs.quiet_start_minute, end_minute=prefs.quiet_end_minute
            )
        return cls(
            groups=groups,
            email_frequency=prefs.email_frequency,
            time_zone=prefs.time_zone,
            quiet_hours=quiet,
            paused_until=prefs.paused_until if prefs.paused(now) else None,
        )


@strawberry.input(description="Only the channels given change.")
class NotificationGroupPreferenceInput:
    group: NotificationGroup
    in_app: bool | None = None
    push: bool | None = None
    email: bool | None = None


@strawberry.input
class QuietHoursInput:
    start_minute: int
    end_minute: int


@strawberry.input(
    description="Only the fields given change. `quietHours: null` turns quiet hours off; "
    "`pausedUntil: null` resumes."
)
class UpdateNotificationPreferencesInput:
    groups: strawberry.Maybe[list[NotificationGroupPreferenceInput] | None] = None
    email_frequency: strawberry.Maybe[EmailFrequency | None] = None
    time_zone: strawberry.Maybe[str | None] = None
    quiet_hours: strawberry.Maybe[QuietHoursInput | None] = None
    paused_until: strawberry.Maybe[datetime | None] = None


@strawberry.type
class NotificationPreferencesPayload:
    preferences: NotificationPreferences
