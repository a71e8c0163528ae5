"""The chat domain's expected errors (mapped to `UserError` members by `chat.types`)."""

from __future__ import annotations

from datetime import datetime

from watchparty.errors import ErrorCode, Problem


class ChatDisabled(Problem):
    """The party's chat is switched off (`PartySettings.chatEnabled` false)."""

    code = ErrorCode.CHAT_DISABLED

    def __init__(self, message: str = "Chat is turned off in this party.") -> None:
        super().__init__(message)


class Muted(Problem):
    """A moderator muted the viewer in this party; `until` None means until unmuted."""

    code = ErrorCode.MUTED

    def __init__(self, until: datetime | None) -> None:
        message = (
            "You are muted in this party."
            if until is None
            else f"You are muted in this party until {until.isoformat()}."
        )
        super().__init__(message, until=until)
        self.until = until
