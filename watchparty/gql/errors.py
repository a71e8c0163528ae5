"""The `UserError` interface and its members; `to_error` maps a service `Problem` onto them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry

from watchparty import errors
from watchparty.kit.redis_guard import REDIS_ERRORS, retry_after_seconds

ErrorCode = errors.ErrorCode
strawberry.enum(ErrorCode, description="Stable machine-readable error codes.")
PlanId = errors.PlanId
strawberry.enum(PlanId, description="A plan of the catalog (`plans`).")
PlanLimit = errors.PlanLimit
strawberry.enum(PlanLimit, description="An entitlement a plan bounds (`Entitlements`' fields).")


@strawberry.interface(description="An expected error a client can show or act on.")
class UserError:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, when there is one."
    )


@strawberry.type
class ValidationError(UserError):
    pass


@strawberry.type
class NotAuthenticated(UserError):
    pass


@strawberry.type
class NotAllowed(UserError):
    pass


@strawberry.type
class NotFound(UserError):
    pass


@strawberry.type
class RateLimited(UserError):
    retry_after_seconds: int


@strawberry.type(
    description="A dependency is unavailable for a moment; nothing was changed. Retry after "
    "`retryAfterSeconds`."
)
class ServiceUnavailable(UserError):
    retry_after_seconds: int


@strawberry.type
class Conflict(UserError):
    pass


@strawberry.type
class InvalidCredentials(UserError):
    pass


@strawberry.type
class InvalidToken(UserError):
    pass


@strawberry.type(
    description="The party has ended (code PARTY_ENDED; the stream event of the same moment is "
    "PartyEnded)."
)
class PartyEndedError(UserError):
    """Shared by every domain: an ended party answers this to any operation that would change
    it (mapped here, once, from `parties.errors.PartyEnded` by its code)."""


@strawberry.type(
    description="New use beyond a plan (the viewer's, or the party host's for members and screen "
    "shares): nothing was changed. Existing content over a limit stays; only new use is refused."
)
class PlanLimitExceeded(UserError):
    limit: PlanLimit = strawberry.field(description="Which entitlement.")
    value: float = strawberry.field(
        description="Its value on the current plan (bytes for the byte limits: a Float)."
    )
    plan: PlanId = strawberry.field(description="The plan that applies now.")
    upgrade_to: PlanId | None = strawberry.field(
        description="The cheapest plan that would allow it; null when none does."
    )


_TYPES: dict[errors.ErrorCode, type[UserError]] = {
    errors.ErrorCode.VALIDATION: ValidationError,
    errors.ErrorCode.NOT_AUTHENTICATED: NotAuthenticated,
    errors.ErrorCode.NOT_ALLOWED: NotAllowed,
    errors.ErrorCode.NOT_FOUND: NotFound,
    errors.ErrorCode.CONFLICT: Conflict,
    errors.ErrorCode.INVALID_CREDENTIALS: InvalidCredentials,
    errors.ErrorCode.INVALID_TOKEN: InvalidToken,
    errors.ErrorCode.PARTY_ENDED: PartyEndedError,
}


def to_error(problem: errors.Problem) -> UserError:
    if isinstance(problem, errors.RateLimited | errors.ServiceUnavailable):
        # The two "retry later" errors carry the same extra field.
        retry = RateLimited if isinstance(problem, errors.RateLimited) else ServiceUnavailable
        return retry(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            retry_after_seconds=problem.retry_after_seconds,
        )
    if isinstance(problem, errors.PlanLimitExceeded):
        return PlanLimitExceeded(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            limit=problem.limit,
            value=float(problem.value),
            plan=problem.plan,
            upgrade_to=problem.upgrade_to,
        )
    cls = _TYPES[problem.code]
    return cls(code=problem.code, message=problem.message, field=problem.field)  # type: ignore[arg-type]


P = ParamSpec("P")
R = TypeVar("R")


def errors_mapped_by(
    to_member: Callable[[errors.Problem], UserError],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R | Any]]]:
    """A resolver decorator turning an expected `Problem` into its union member with
    `to_member` (each domain passes its own mapping, which falls back to `to_error`).

    Redis being unavailable is expected too (kit/redis_guard.py): it becomes `ServiceUnavailable`,
    so a mutation that needs Redis lists that member in its union."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Any]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            try:
                return await fn(*args, **kwargs)
            except errors.Problem as problem:
                return to_member(problem)
            except REDIS_ERRORS as exc:
                return to_member(errors.ServiceUnavailable(retry_after_seconds(exc)))

        return wrapper

    return decorate


returns_errors = errors_mapped_by(to_error)
