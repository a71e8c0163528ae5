"""The parties domain's expected errors (mapped to `UserError` members by the GraphQL layer)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from watchparty.errors import ErrorCode, Problem, ValidationProblem

if TYPE_CHECKING:
    from watchparty.parties.timeline import Timeline


class TimelineError(ValidationProblem):
    """A playback control that makes no sense in the current state (e.g. pausing an idle party).

    A `ValidationProblem` so that it maps onto `ValidationError`, which the playback mutations
    already list; `field` is None because the state, not an argument, is at fault.
    """


class RevisionConflict(Problem):
    """`expectedRevision` is stale: someone changed the timeline first. Carries the current one."""

    code = ErrorCode.REVISION_CONFLICT

    def __init__(self, current: Timeline, expected: int) -> None:
        super().__init__(
            f"Playback changed meanwhile (now at revision {current.revision}, "
            f"expected {expected}).",
            field="expectedRevision",
            current=current,
        )
        self.current = current
        self.expected = expected


class PartyFull(Problem):
    """The party has reached its `maxMembers` active members."""

    code = ErrorCode.PARTY_FULL

    def __init__(self, max_members: int) -> None:
        super().__init__(f"This party is full ({max_members} members).", max_members=max_members)
        self.max_members = max_members


class Banned(Problem):
    """The viewer is banned from the party; `until` None means for good."""

    code = ErrorCode.BANNED

    def __init__(self, until: datetime | None) -> None:
        message = (
            "You are banned from this party."
            if until is None
            else f"You are banned from this party until {until.isoformat()}."
        )
        super().__init__(message, until=until)
        self.until = until


class PartyEnded(Problem):
    """The party is over: it is read-only for every operation that would change it (playback,
    queue, chat, polls, reactions, voice, membership, moderation, invites, settings)."""

    code = ErrorCode.PARTY_ENDED

    def __init__(self, message: str = "This party has ended.") -> None:
        super().__init__(message)
