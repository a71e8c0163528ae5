"""The reactions domain's expected errors (mapped to `UserError` members in `reactions.types`)."""

from __future__ import annotations

from watchparty.errors import ErrorCode, Problem


class ReactionsDisabled(Problem):
    """The party has live reactions turned off (`settings.reactionsEnabled`)."""

    code = ErrorCode.REACTIONS_DISABLED

    def __init__(self) -> None:
        super().__init__("Reactions are turned off in this party.")
