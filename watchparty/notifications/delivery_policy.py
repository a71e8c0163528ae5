"""Which notifications may be pushed now: the one place the delivery job asks.

`push_targets` is called by the push job (`notifications.push`) with the notifications of its
batch that are still unread and unexpired, before anything is claimed or sent, and reads the
recipients' preferences as they are at that moment (one statement):

- SECURITY kinds are pushed now, whatever the settings (they cannot be turned off);
- a group whose push is off, or a recipient who paused notifications: not pushed, ever (the
  feed still has it);
- inside the recipient's quiet hours: held, and the job is enqueued again for when they end
  (`Targets.held`); that run asks again, so an entry read meanwhile, or whose push TTL
  (`render.push_ttl`, counted from its last update) has run out, is dropped then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.notifications import preferences
from watchparty.notifications.models import Notification
from watchparty.notifications.preferences import Channel

EARLY = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Targets:
    now: list[Notification]
    held: dict[datetime, list[Notification]] = field(default_factory=dict)  # by quiet-hours end


async def push_targets(
    session: AsyncSession, rows: Sequence[Notification], now: datetime
) -> Targets:
    """The rows to push at `now`, and those held until the end of their quiet hours."""
    settings = await preferences.load_many(session, [row.recipient_id for row in rows])
    ready: list[Notification] = []
    held: dict[datetime, list[Notification]] = defaultdict(list)
    for row in rows:
        prefs = settings[row.recipient_id]
        if preferences.group_of(row.kind) in preferences.LOCKED:
            ready.append(row)
            continue
        if not prefs.wants(row.kind, Channel.PUSH) or prefs.paused(now):
            continue
        until = prefs.quiet_until(now)
        if until is None or until - now <= EARLY:  # a held run may wake a moment early
            ready.append(row)
        else:
            held[until].append(row)
    return Targets(ready, dict(held))
