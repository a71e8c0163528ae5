"""Background jobs of the realtime package (idempotent)."""

from __future__ import annotations

from typing import Any


async def trim_event_logs(ctx: dict[str, Any]) -> int:
    """Apply retention to every channel's event log; meant as an ARQ cron job (every minute).

    Writers already trim their channel every `Retention.trim_every` events; this catches the
    channels that went quiet, whose events would otherwise outlive the time limit.
    """
    deleted: int = await ctx["state"].hub.trim()
    return deleted
