"""The party's moderation log: appending an entry, and the reason every action may carry.

Members' actions (approve, reject, kick, ban, unban, roles, hosting: `member_actions`) and chat's
(mutes, slow mode, hidden and deleted messages: `chat.moderation`) all land in this one log, so
it lives here, below chat. Read by moderators as `Party.moderationLog` (`chat.moderation_types`).
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.errors import ValidationProblem
from watchparty.kit.time import utcnow
from watchparty.parties.models import REASON_MAX_LENGTH, ModerationAction, ModerationLogEntry


async def record_action(
    session: AsyncSession,
    *,
    party_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    target_user_id: uuid.UUID | None = None,
    target_message_id: uuid.UUID | None = None,
    reason: str | None = None,
    until: datetime | None = None,
    details: dict[str, Any] | None = None,
    body_snapshot: str | None = None,
) -> None:
    """Append one entry to the party's moderation log (in the caller's transaction)."""
    session.add(
        ModerationLogEntry(
            id=uuid.uuid4(),
            party_id=party_id,
            actor_id=actor_id,
            action=ModerationAction(action),
            target_user_id=target_user_id,
            target_message_id=target_message_id,
            reason=reason,
            until=until,
            details=details,
            body_snapshot=body_snapshot,
            created_at=utcnow(),
        )
    )
    await session.flush()


def clean_reason(reason: str | None) -> str | None:
    """Trimmed; blank is None; at most 500 characters of text (ValidationError on `reason`)."""
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationProblem(f"At most {REASON_MAX_LENGTH} characters.", field="reason")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in reason):
        raise ValidationProblem("Control characters are not allowed.", field="reason")
    return reason
