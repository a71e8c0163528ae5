"""The expected errors of the party mutations, as members of their result unions.

`to_party_error` maps a service's `Problem` to its GraphQL error type (the party ones here, the
shared ones, PartyEndedError among them, in `gql.errors`); every domain whose mutations can meet
a party error uses it.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from watchparty.errors import Problem
from watchparty.gql.errors import UserError, errors_mapped_by, to_error
from watchparty.parties import errors


@strawberry.type(description="The party has reached its maximum number of members.")
class PartyFull(UserError):
    max_members: int


@strawberry.type(description="The viewer is banned from this party.")
class Banned(UserError):
    until: datetime | None = strawberry.field(description="Null: banned for good.")


def to_party_error(problem: Problem) -> UserError:
    """A `Problem` as its union member: the party errors here, the shared ones in gql.errors."""
    if isinstance(problem, errors.PartyFull):
        return PartyFull(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            max_members=problem.max_members,
        )
    if isinstance(problem, errors.Banned):
        return Banned(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            until=problem.until,
        )
    return to_error(problem)


returns_party_errors = errors_mapped_by(to_party_error)
