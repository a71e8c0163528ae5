from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch_ms() -> float:
    """Wall-clock time in epoch milliseconds (the clock playback anchors use)."""
    return time.time() * 1000.0
