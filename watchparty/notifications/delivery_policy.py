"""Which notifications may be pushed now: the one place the delivery job asks.

`push_targets` is called by the push job (`notifications.push`) with the notifications of its
batch that are still unread and unexpired, before anything is claimed or sent. It returns the
ones to push now; the others are not pushed by this run. Preferences (push off for a kind
group, a global pause) and quiet hours belong here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.notifications.models import Notification


async def push_targets(
    session: AsyncSession, rows: Sequence[Notification], now: datetime
) -> list[Notification]:
    """The rows to push at `now` (for now: all of them)."""
    return list(rows)
