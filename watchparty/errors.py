"""Expected errors, independent of GraphQL.

Services raise `Problem`; the GraphQL layer turns it into the matching `UserError` member of the
mutation's result union. Anything else that escapes is unexpected: masked and logged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    NOT_ALLOWED = "NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"
    PLAN_LIMIT_EXCEEDED = "PLAN_LIMIT_EXCEEDED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (an error code, not a secret)
    REVISION_CONFLICT = "REVISION_CONFLICT"
    PARTY_FULL = "PARTY_FULL"
    BANNED = "BANNED"
    PARTY_ENDED = "PARTY_ENDED"
    CHAT_DISABLED = "CHAT_DISABLED"
    REACTIONS_DISABLED = "REACTIONS_DISABLED"
    MUTED = "MUTED"
    POLL_CLOSED = "POLL_CLOSED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    BILLING_UNAVAILABLE = "BILLING_UNAVAILABLE"
    ALREADY_SUBSCRIBED = "ALREADY_SUBSCRIBED"


class Problem(Exception):
    """An expected failure a client can act on."""

    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class ValidationProblem(Problem):
    code = ErrorCode.VALIDATION


class NotAuthenticated(Problem):
    code = ErrorCode.NOT_AUTHENTICATED

    def __init__(self, message: str = "You need to sign in.", **kw: Any) -> None:
        super().__init__(message, **kw)


class NotAllowed(Problem):
    code = ErrorCode.NOT_ALLOWED

    def __init__(self, message: str = "You are not allowed to do that.", **kw: Any) -> None:
        super().__init__(message, **kw)


class NotFound(Problem):
    code = ErrorCode.NOT_FOUND

    def __init__(self, message: str = "Not found.", **kw: Any) -> None:
        super().__init__(message, **kw)


class RateLimited(Problem):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(
            message or f"Too many attempts. Try again in {retry_after_seconds} seconds.",
            retry_after_seconds=retry_after_seconds,
        )
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(Problem):
    """A dependency (Redis) is unavailable for a moment and this cannot be done safely without
    it: nothing was changed, retry after `retry_after_seconds`."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(
            message
            or f"This is unavailable for a moment. Try again in {retry_after_seconds} seconds.",
            retry_after_seconds=retry_after_seconds,
        )
        self.retry_after_seconds = retry_after_seconds


class PlanId(StrEnum):
    """The plans (billing's catalog, `billing.plans`): named here because the error below and
    every domain that checks a limit name them, and the floor imports no domain."""

    FREE = "FREE"
    PLUS = "PLUS"
    PREMIUM = "PREMIUM"


class PlanLimit(StrEnum):
    """Each entitlement a plan bounds (`PlanLimitExceeded.limit`; `billing.plans.Limit`)."""

    PARTY_MEMBERS = "PARTY_MEMBERS"  # active members of a party you host
    HOSTED_PARTIES = "HOSTED_PARTIES"  # parties you host that have not ended
    STORAGE_BYTES = "STORAGE_BYTES"  # your uploaded videos together
    UPLOAD_BYTES = "UPLOAD_BYTES"  # one upload
    PROCESSING_HEIGHT = "PROCESSING_HEIGHT"  # the tallest rendition made of your uploads
    SCREEN_SHARES = "SCREEN_SHARES"  # screens shared at once in a party you host
    PREMIUM_VIDEOS = "PREMIUM_VIDEOS"  # may play videos marked premium-only (1 or 0)


class PlanLimitExceeded(Problem):
    """New use past the viewer's (or the party host's) plan: `limit` is which, `value` its
    value on the current `plan`, `upgrade_to` the cheapest plan that would lift it (None: none
    does). Content already over a limit (after a downgrade) stays; only new use is refused."""

    code = ErrorCode.PLAN_LIMIT_EXCEEDED

    def __init__(
        self,
        message: str,
        *,
        limit: PlanLimit,
        value: int,
        plan: PlanId,
        upgrade_to: PlanId | None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.limit = limit
        self.value = value
        self.plan = plan
        self.upgrade_to = upgrade_to


class Conflict(Problem):
    code = ErrorCode.CONFLICT


class InvalidCredentials(Problem):
    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self, message: str = "Email or password is incorrect.", **kw: Any) -> None:
        super().__init__(message, **kw)


class InvalidToken(Problem):
    code = ErrorCode.INVALID_TOKEN

    def __init__(self, message: str = "This link is invalid or has expired.", **kw: Any) -> None:
        super().__init__(message, **kw)
