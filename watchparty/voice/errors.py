"""The voice domain's expected errors (mapped onto `UserError` members by `voice.types`)."""

from __future__ import annotations

from watchparty.errors import Conflict, NotFound


class ScreenShareLimitReached(Conflict):
    """The party already has `max_screen_shares` members sharing a screen."""

    def __init__(self, limit: int) -> None:
        noun = "screen share" if limit == 1 else "screen shares"
        super().__init__(
            f"This party allows {limit} {noun} at a time; wait until someone stops sharing.",
            limit=limit,
        )
        self.limit = limit


class NotInVoice(Conflict):
    """`setVoiceState` needs the member to be in the voice room."""

    def __init__(self) -> None:
        super().__init__("Join voice first.")


class RecipientNotFound(NotFound):
    """`sendSignal` to somebody who is not an active member of the party (or never existed)."""

    def __init__(self) -> None:
        super().__init__("That person is not a member of this party.", field="toUserId")
