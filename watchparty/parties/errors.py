"""The parties domain's expected errors (mapped to `UserError` members by the GraphQL layer)."""

from __future__ import annotations

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
