"""Telling a cancellation from a timeout.

A task cancelled while a timeout around one of its awaits is expiring can see the cancellation
come back as `TimeoutError` (the timeout context converts the `CancelledError` it finds). Code
that treats `TimeoutError` (an `OSError`) as "Redis is unavailable, wait and retry" would then
swallow the cancellation and loop forever: a worker or a pub/sub supervisor that never stops.
Such handlers ask `cancel_requested()` first and re-raise the cancellation.
"""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """Whether the current task has a cancellation pending (even if an await swallowed it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def reraise_if_cancelled(exc: BaseException) -> None:
    """Raise `CancelledError` (from `exc`) when the current task is being cancelled."""
    if cancel_requested():
        raise asyncio.CancelledError() from exc
