"""Notification queries, mutations and the `notificationEvents` subscription. Thin: unpack,
call one service function, map the result. Signed-in only; only the viewer's own entries."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from watchparty.context import Info
from watchparty.errors import ValidationProblem
from watchparty.gql.errors import (
    NotAuthenticated,
    NotFound,
    ValidationError,
    returns_errors,
)
from watchparty.gql.pagination import not_signed_in, page_info, paging_errors
from watchparty.kit.time import utcnow
from watchparty.notifications import preferences, service
from watchparty.notifications.payloads import notification_payload
from watchparty.notifications.preference_types import (
    NotificationPreferences,
    NotificationPreferencesPayload,
    UpdateNotificationPreferencesInput,
)
from watchparty.notifications.stream import notification_event_stream
from watchparty.notifications.stream_types import NotificationEvent
from watchparty.notifications.types import (
    ClearNotificationsPayload,
    DeleteNotificationInput,
    DeleteNotificationPayload,
    MarkNotificationsReadInput,
    MarkNotificationsReadPayload,
    Notification,
    NotificationConnection,
    NotificationCountsPayload,
    NotificationEdge,
)

MarkNotificationsReadResult = Annotated[
    MarkNotificationsReadPayload | NotAuthenticated | NotFound | ValidationError,
    strawberry.union("MarkNotificationsReadResult"),
]
MarkNotificationsSeenResult = Annotated[
    NotificationCountsPayload | NotAuthenticated,
    strawberry.union("MarkNotificationsSeenResult"),
]
DeleteNotificationResult = Annotated[
    DeleteNotificationPayload | NotAuthenticated | NotFound | ValidationError,
    strawberry.union("DeleteNotificationResult"),
]
UpdateNotificationPreferencesResult = Annotated[
    NotificationPreferencesPayload | NotAuthenticated | ValidationError,
    strawberry.union("UpdateNotificationPreferencesResult"),
]
ClearNotificationsResult = Annotated[
    ClearNotificationsPayload | NotAuthenticated,
    strawberry.union("ClearNotificationsResult"),
]


@strawberry.type
class NotificationQueries:
    @strawberry.field(
        description="The viewer's notifications, newest first (by last update: a collapsed "
        "entry that grows moves to the top); page size at most 100. Null when anonymous."
    )
    async def notifications(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        unread_only: bool = False,
    ) -> NotificationConnection | None:
        viewer = await info.context.viewer()
        if viewer is None:
            return None
        async with info.context.state.sessionmaker() as session:
            with paging_errors(info):
                page = await service.list_notifications(
                    session, viewer.id, first, after, unread_only
                )
        edges = [
            NotificationEdge(
                cursor=cursor, node=Notification.from_payload(notification_payload(row))
            )
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]
        return NotificationConnection(
            edges=edges,
            page_info=page_info(
                page.cursors, has_next=page.has_next, has_previous=after is not None
            ),
            total_count=page.total,
        )

    @strawberry.field(
        description="The viewer's unread notifications (an error NOT_AUTHENTICATED when "
        "anonymous). The badge is `unseenCount` of the stream's items."
    )
    async def unread_notification_count(self, info: Info) -> int:
        viewer = await info.context.viewer()
        if viewer is None:
            raise not_signed_in(info)
        async with info.context.state.sessionmaker() as session:
            return (await service.counts(session, viewer.id)).unread

    @strawberry.field(description="The viewer's notification settings. Null when anonymous.")
    async def notification_preferences(self, info: Info) -> NotificationPreferences | None:
        viewer = await info.context.viewer()
        if viewer is None:
            return None
        async with info.context.state.sessionmaker() as session:
            prefs = await preferences.load(session, viewer.id)
        return NotificationPreferences.from_preferences(prefs, utcnow())


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="Mark notifications read: exactly one of `ids` (at most 100), `upTo` (a "
        "cursor: that entry and every older one) or `all`. Reaches every device's stream."
    )
    @returns_errors
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        ids = None if input.ids is None else [str(i) for i in input.ids]
        async with ctx.state.unit_of_work() as uow:
            result = await service.mark_read(
                uow, viewer.id, ids=ids, up_to=input.up_to, all=bool(input.all)
            )
        return MarkNotificationsReadPayload(
            ids=[strawberry.ID(i) for i in result.ids],
            all=result.all,
            unread_count=result.counts.unread,
            unseen_count=result.counts.unseen,
        )

    @strawberry.mutation(description="Clear the badge without reading: every entry is seen.")
    @returns_errors
    async def mark_notifications_seen(self, info: Info) -> MarkNotificationsSeenResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            counts = await service.mark_seen(uow, viewer.id)
        return NotificationCountsPayload(unread_count=counts.unread, unseen_count=counts.unseen)

    @strawberry.mutation(
        description="Change notification settings: per group and channel, email frequency, "
        "time zone, quiet hours, pause. Turning SECURITY off is a ValidationError."
    )
    @returns_errors
    async def update_notification_preferences(
        self, info: Info, input: UpdateNotificationPreferencesInput
    ) -> UpdateNotificationPreferencesResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        changes: dict[str, Any] = {}
        if input.groups is not None:
            if input.groups.value is None:
                raise ValidationProblem("groups cannot be null; leave it out.", field="groups")
            changes["groups"] = [
                preferences.GroupChange(g.group, in_app=g.in_app, push=g.push, email=g.email)
                for g in input.groups.value
            ]
        for name in ("email_frequency", "time_zone"):
            given = getattr(input, name)
            if given is not None:
                if given.value is None:
                    field = "emailFrequency" if name == "email_frequency" else "timeZone"
                    raise ValidationProblem(f"{field} cannot be null; leave it out.", field=field)
                changes[name] = given.value
        if input.quiet_hours is not None:
            quiet = input.quiet_hours.value
            changes["quiet_hours"] = (
                None if quiet is None else (quiet.start_minute, quiet.end_minute)
            )
        if input.paused_until is not None:
            changes["paused_until"] = input.paused_until.value
        now = utcnow()
        async with ctx.state.unit_of_work() as uow:
            prefs = await preferences.update(uow.session, viewer.id, now, **changes)
        return NotificationPreferencesPayload(
            preferences=NotificationPreferences.from_preferences(prefs, now)
        )

    @strawberry.mutation(description="Delete one of the viewer's notifications.")
    @returns_errors
    async def delete_notification(
        self, info: Info, input: DeleteNotificationInput
    ) -> DeleteNotificationResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            counts = await service.delete_notification(uow, viewer.id, str(input.id))
        return DeleteNotificationPayload(
            deleted_id=input.id, unread_count=counts.unread, unseen_count=counts.unseen
        )

    @strawberry.mutation(description="Delete every notification of the viewer.")
    @returns_errors
    async def clear_notifications(self, info: Info) -> ClearNotificationsResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            deleted = await service.clear_notifications(uow, viewer.id)
        return ClearNotificationsPayload(deleted_count=deleted)


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(
        description="The viewer's notification stream: a NotificationSnapshot first (the "
        "counts and the cursor), then every change with a cursor. Reconnect with `after: <last "
        "cursor>` to receive exactly the events missed; `resync: true` on the snapshot when "
        "they are no longer retained. Ends with an error whose `extensions.code` is "
        "NOT_AUTHENTICATED, STREAM_OVERFLOW (resume from `extensions.cursor`) or STREAM_CLOSED."
    )
    async def notification_events(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[NotificationEvent, None]:
        stream = notification_event_stream(info, after)
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()
