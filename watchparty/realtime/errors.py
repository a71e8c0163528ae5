"""Why a stream ended. Each tells the caller what the client should do next."""

from __future__ import annotations


class StreamInterrupted(Exception):
    """The stream cannot continue; the client reconnects (with its cursor) or resyncs."""


class ResyncRequired(StreamInterrupted):
    """The cursor is older than the retained log (or unknown): send a fresh snapshot flagged
    `resync` and continue live from the seq it was built at."""

    def __init__(self, channel: str, cursor: int) -> None:
        super().__init__(f"events after {cursor} on {channel!r} are no longer retained")
        self.channel = channel
        self.cursor = cursor


class SubscriberOverflow(StreamInterrupted):
    """The subscriber fell more than its queue behind. Its queue was dropped to bound memory;
    the client resumes from `cursor`, the last event it received."""

    def __init__(self, channel: str, cursor: int) -> None:
        super().__init__(f"subscriber to {channel!r} fell behind; resume after {cursor}")
        self.channel = channel
        self.cursor = cursor


class HubClosed(StreamInterrupted):
    """The process is shutting down; the client reconnects (to another process)."""
