"""GraphQL types of notifications, built from `payloads.notification_payload` (the list and the
stream render the same way). `actor` is loaded per request (a renamed actor shows the new name
in the feed; the title keeps the name it was rendered with)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.pagination import PageInfo
from watchparty.notifications.models import NotificationKind, SubjectType

strawberry.enum(
    NotificationKind,
    description="What a notification is about. Some kinds are not produced yet (see README).",
)
strawberry.enum(SubjectType, name="NotificationSubjectType", description="What `subjectId` is.")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@strawberry.type(description="One entry of the viewer's feed (a collapsed group is one entry).")
class Notification:
    id: strawberry.ID
    kind: NotificationKind
    title: str = strawberry.field(description="Plain text, at most 80 characters.")
    body: str = strawberry.field(description="Plain text, at most 180 characters (may be empty).")
    action_path: str | None = strawberry.field(
        description="Where the frontend goes when it is opened, e.g. /parties/<id>."
    )
    actor_count: int = strawberry.field(
        description="Distinct people a collapsed entry holds (0: no actor)."
    )
    subject_type: SubjectType | None
    subject_id: strawberry.ID | None
    created_at: datetime
    updated_at: datetime = strawberry.field(description="Last time it grew; the feed's order.")
    seen_at: datetime | None
    read_at: datetime | None
    expires_at: datetime
    _actor_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Who caused it, the latest one of a collapsed entry.")
    async def actor(self, info: Info) -> User | None:
        if self._actor_id is None:
            return None
        user = await user_loader_of(info.context.loaders).load(self._actor_id)
        return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Notification:
        actor_id = payload.get("actorId")
        subject_type = payload.get("subjectType")
        subject_id = payload.get("subjectId")
        return cls(
            id=strawberry.ID(payload["id"]),
            kind=NotificationKind(payload["kind"]),
            title=payload["title"],
            body=payload["body"],
            action_path=payload.get("actionPath"),
            actor_count=int(payload.get("actorCount", 0)),
            subject_type=None if subject_type is None else SubjectType(subject_type),
            subject_id=None if subject_id is None else strawberry.ID(subject_id),
            created_at=datetime.fromisoformat(payload["createdAt"]),
            updated_at=datetime.fromisoformat(payload["updatedAt"]),
            seen_at=_dt(payload.get("seenAt")),
            read_at=_dt(payload.get("readAt")),
            expires_at=datetime.fromisoformat(payload["expiresAt"]),
            _actor_id=None if actor_id is None else uuid.UUID(actor_id),
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Exactly one of `ids`, `upTo` and `all`.")
class MarkNotificationsReadInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="At most 100 of the viewer's notifications."
    )
    up_to: str | None = strawberry.field(
        default=None, description="A cursor of `notifications`: that entry and every older one."
    )
    all: bool | None = strawberry.field(default=None, description="Every notification.")


@strawberry.type
class MarkNotificationsReadPayload:
    ids: list[strawberry.ID] = strawberry.field(
        description="The notifications that became read (empty with `all`)."
    )
    all: bool
    unread_count: int
    unseen_count: int


@strawberry.type
class NotificationCountsPayload:
    unread_count: int
    unseen_count: int


@strawberry.input
class DeleteNotificationInput:
    id: strawberry.ID = strawberry.field(description="One of the viewer's notifications.")


@strawberry.type
class DeleteNotificationPayload:
    deleted_id: strawberry.ID
    unread_count: int
    unseen_count: int


@strawberry.type
class ClearNotificationsPayload:
    deleted_count: int
