"""Pure, JSON-safe payloads of notifications, as stored in the stream's events and read by
`notifications.types.Notification.from_payload`. Keys are the GraphQL field names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from watchparty.notifications.models import Notification


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def notification_payload(row: Notification) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "kind": row.kind.value,
        "title": row.title,
        "body": row.body,
        "actionPath": row.action_path,
        "actorId": None if row.actor_id is None else str(row.actor_id),
        "actorCount": row.actor_count,
        "subjectType": None if row.subject_type is None else row.subject_type.value,
        "subjectId": row.subject_id,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "seenAt": iso(row.seen_at),
        "readAt": iso(row.read_at),
        "expiresAt": iso(row.expires_at),
    }
