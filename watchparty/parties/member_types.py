"""GraphQL types for the people of a party: PartyMember (and its connection), InviteLink, and
`user_from_payload`, which every domain uses to render the users its stored payloads carry.

Built from the JSON payloads of `parties.payloads`, the ones stored in events, so a subscriber
renders an event without touching the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from watchparty.accounts import models as account_models
from watchparty.accounts.types import User
from watchparty.gql.pagination import PageInfo
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.parties import models
from watchparty.parties.models import MemberRole, MemberStatus
from watchparty.parties.payloads import member_payload

strawberry.enum(MemberRole, description="HOST > COHOST > MODERATOR > MEMBER.")
strawberry.enum(MemberStatus, description="A membership's state.")


def parse_datetime(value: str | None) -> datetime | None:
    """A payload's ISO timestamp (None stays None)."""
    return None if value is None else datetime.fromisoformat(value)


def user_from_payload(payload: dict[str, Any]) -> User:
    """A `User` from `payloads.user_payload` (private fields render null)."""
    created_at = parse_datetime(payload.get("createdAt"))
    return User(
        id=strawberry.ID(payload["id"]),
        display_name=payload["displayName"],
        avatar_url=payload.get("avatarUrl"),
        bio=payload.get("bio"),
        created_at=created_at or datetime.min,
        _email="",
        _email_verified=False,
        _has_password=False,
        _is_viewer=False,
    )


@same_for_every_viewer()
@strawberry.type(description="A person's membership of a party.")
class PartyMember:
    user: User
    role: MemberRole
    status: MemberStatus
    online: bool = strawberry.field(description="Holds the party stream right now.")
    joined_at: datetime = strawberry.field(description="When they joined (or asked to).")
    last_drift_ms: float | None = strawberry.field(
        description="Their player's last reported distance from the timeline (+ = ahead)."
    )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PartyMember:
        return cls(
            user=user_from_payload(payload["user"]),
            role=MemberRole(payload["role"]),
            status=MemberStatus(payload["status"]),
            online=payload["online"],
            joined_at=datetime.fromisoformat(payload["joinedAt"]),
            last_drift_ms=payload.get("lastDriftMs"),
        )

    @classmethod
    def from_model(
        cls, member: models.PartyMember, user: account_models.User, online: bool
    ) -> PartyMember:
        return cls.from_payload(member_payload(member, user, online))


@same_for_every_viewer()
@strawberry.type
class PartyMemberEdge:
    cursor: str
    node: PartyMember


@same_for_every_viewer()
@strawberry.type
class PartyMemberConnection:
    edges: list[PartyMemberEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="An invite link (the token itself is shown once, at creation).")
class InviteLink:
    id: strawberry.ID
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool
    created_at: datetime

    @classmethod
    def from_model(cls, link: models.InviteLink) -> InviteLink:
        return cls(
            id=strawberry.ID(str(link.id)),
            expires_at=link.expires_at,
            max_uses=link.max_uses,
            uses=link.uses,
            revoked=link.revoked_at is not None,
            created_at=link.created_at,
        )
