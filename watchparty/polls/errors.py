"""The polls domain's expected errors (mapped to `UserError` members in `polls.types`)."""

from __future__ import annotations

from datetime import datetime

from watchparty.errors import ErrorCode, Problem


class PollClosed(Problem):
    """The poll no longer takes votes (closed by hand or past its `closesAt`)."""

    code = ErrorCode.POLL_CLOSED

    def __init__(self, closed_at: datetime) -> None:
        super().__init__("This poll is closed.", field="pollId", closed_at=closed_at)
        self.closed_at = closed_at
