"""Pure, JSON-safe payloads of polls, as stored in `PollChanged` events and read by
`polls.types.Poll.from_payload`. Keys are the GraphQL field names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchparty.accounts.models import User
from watchparty.parties.payloads import iso, user_payload
from watchparty.polls.models import Poll, PollOption


def poll_payload(poll: Poll, options: Sequence[PollOption], creator: User | None) -> dict[str, Any]:
    """`options` in their order; `creator` None when that account is gone."""
    return {
        "id": str(poll.id),
        "question": poll.question,
        "options": [
            {"id": str(option.id), "text": option.text, "votes": option.votes} for option in options
        ],
        "allowsMultiple": poll.allows_multiple,
        "closesAt": iso(poll.closes_at),
        "closedAt": iso(poll.closed_at),
        "createdBy": None if creator is None else user_payload(creator),
        "totalVoters": poll.total_voters,
        "totalVotes": sum(option.votes for option in options),
        "createdAt": iso(poll.created_at),
    }
