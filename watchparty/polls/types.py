"""GraphQL types of polls, built from the payloads stored in `PollChanged` events.

Everything but `myOptionIds` is the same for every viewer and comes from the payload.
`status` and `closedAt` are computed when executed, from `closedAt` and `closesAt`, so a poll
past its closing time reads CLOSED even before the closing job has run.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import strawberry

from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.errors import Problem
from watchparty.gql.errors import UserError, errors_mapped_by, to_error
from watchparty.gql.pagination import PageInfo
from watchparty.gql.shared import event_loader
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.kit.time import utcnow
from watchparty.parties.member_types import user_from_payload
from watchparty.polls import errors
from watchparty.polls.loaders import my_choices_loader, poll_choices_loader


class PollStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


strawberry.enum(PollStatus, description="OPEN takes votes; CLOSED is final.")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@same_for_every_viewer()
@strawberry.type(description="One answer of a poll, with its current number of votes.")
class PollOption:
    id: strawberry.ID
    text: str
    votes: int


@same_for_every_viewer(
    "id",
    "question",
    "options",
    "allows_multiple",
    "status",
    "closes_at",
    "closed_at",
    "created_by",
    "total_voters",
    "total_votes",
    "created_at",
)
@strawberry.type(description="A poll in a party. Results are public to whoever sees the poll.")
class Poll:
    id: strawberry.ID
    question: str
    options: list[PollOption] = strawberry.field(description="In the order they were given.")
    allows_multiple: bool
    closes_at: datetime | None = strawberry.field(
        description="When it closes by itself (null: open until closed by hand)."
    )
    created_by: User | None = strawberry.field(description="Null when that account is gone.")
    total_voters: int = strawberry.field(description="Members with a ballot.")
    total_votes: int = strawberry.field(description="Sum of the options' votes.")
    created_at: datetime
    _poll_id: strawberry.Private[uuid.UUID]
    _closed_at: strawberry.Private[datetime | None]
    _mine: strawberry.Private[list[str] | None] = None

    @strawberry.field
    def status(self) -> PollStatus:
        return PollStatus.OPEN if self._closed_by() is None else PollStatus.CLOSED

    @strawberry.field(description="When it closed (by hand, or its closesAt once passed).")
    def closed_at(self) -> datetime | None:
        return self._closed_by()

    @strawberry.field(
        description="The options the viewer chose, in option order (empty: no ballot, or "
        "anonymous)."
    )
    async def my_option_ids(self, info: Info) -> list[strawberry.ID]:
        viewer_id = info.context.viewer_id
        if viewer_id is None:
            return []
        if self._mine is not None:
            return [strawberry.ID(i) for i in self._mine]
        if getattr(info.root_value, "shared_loaders", None) is not None:
            # A stream event: one read of the poll's ballots serves every subscriber.
            by_user = await event_loader(info, "polls.poll_choices", poll_choices_loader).load(
                self._poll_id
            )
            return [strawberry.ID(i) for i in by_user.get(str(viewer_id), [])]
        loader = info.context.loaders.get("polls.my_choices", my_choices_loader)
        return [strawberry.ID(i) for i in await loader.load((self._poll_id, viewer_id))]

    def _closed_by(self) -> datetime | None:
        if self._closed_at is not None:
            return self._closed_at
        if self.closes_at is not None and self.closes_at <= utcnow():
            return self.closes_at
        return None

    @classmethod
    def from_payload(cls, payload: dict[str, Any], mine: list[str] | None = None) -> Poll:
        created_by = payload.get("createdBy")
        created_at = _dt(payload["createdAt"])
        assert created_at is not None
        return cls(
            id=strawberry.ID(payload["id"]),
            question=payload["question"],
            options=[
                PollOption(id=strawberry.ID(o["id"]), text=o["text"], votes=o["votes"])
                for o in payload["options"]
            ],
            allows_multiple=payload["allowsMultiple"],
            closes_at=_dt(payload.get("closesAt")),
            created_by=None if created_by is None else user_from_payload(created_by),
            total_voters=payload["totalVoters"],
            total_votes=payload["totalVotes"],
            created_at=created_at,
            _poll_id=uuid.UUID(payload["id"]),
            _closed_at=_dt(payload.get("closedAt")),
            _mine=mine,
        )


@strawberry.type
class PollEdge:
    cursor: str
    node: Poll


@strawberry.type
class PollConnection:
    edges: list[PollEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class PollPayload:
    poll: Poll


@strawberry.input
class CreatePollInput:
    party_id: strawberry.ID
    question: str = strawberry.field(description="1..300 characters.")
    options: list[str] = strawberry.field(
        description="2..10 answers of 1..100 characters, distinct (ignoring case)."
    )
    allows_multiple: bool = strawberry.field(
        default=False, description="Members may choose several options."
    )
    closes_at: datetime | None = strawberry.field(
        default=None, description="In the future, at most 7 days ahead; null: closed by hand."
    )


@strawberry.input
class VotePollInput:
    poll_id: strawberry.ID
    option_ids: list[strawberry.ID] = strawberry.field(
        description="Replaces the viewer's ballot: exactly one option for a single-choice poll, "
        "1..n distinct ones for multiple choice; an empty list withdraws the ballot."
    )


@strawberry.input
class ClosePollInput:
    poll_id: strawberry.ID


@strawberry.type(description="The poll no longer takes votes (code POLL_CLOSED).")
class PollClosed(UserError):
    closed_at: datetime


def to_poll_error(problem: Problem) -> UserError:
    if isinstance(problem, errors.PollClosed):
        return PollClosed(
            code=problem.code,  # type: ignore[arg-type]
            message=problem.message,
            field=problem.field,
            closed_at=problem.closed_at,
        )
    return to_error(problem)


returns_poll_errors = errors_mapped_by(to_poll_error)
