"""GraphQL types for parties: Party, PartySettings, PartyPreview and the party connection.

Members and invite links are in `member_types`, the mutations' expected errors in `error_types`.
Other domains add their own `Party` fields (`chat.party_fields`, `polls.party_fields`, ...): the
composition root appends them (`schema.py`, `gql.extend.extend_type`), so parties imports none
of them. Their resolvers ask `viewer_role` / `viewer_may_read` here what the viewer may see.

Objects are built from the JSON payloads of `parties.payloads` (`from_payload`), the same ones
stored in party events, so a subscriber renders an event without touching the database. Fields
that a payload does not carry (counts, the viewer's membership, member lists) resolve through
per-operation loaders or a short session of their own, never a shared one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from watchparty.accounts import models as account_models
from watchparty.accounts.loaders import user_loader_of
from watchparty.accounts.types import User
from watchparty.context import Info
from watchparty.gql.pagination import PageInfo, client_error
from watchparty.gql.sharing import same_for_every_viewer
from watchparty.kit.pagination import PaginationError
from watchparty.parties import listing, models
from watchparty.parties.authz import at_least, may_read_content
from watchparty.parties.loaders import party_loaders_of
from watchparty.parties.member_types import (
    InviteLink,
    PartyMember,
    PartyMemberConnection,
    parse_datetime,
    user_from_payload,
)
from watchparty.parties.models import (
    QUEUE_MAX_ITEMS,
    QUEUE_PAGE_DEFAULT,
    ControlPolicy,
    MemberRole,
    MemberStatus,
    PartyStatus,
    PartyVisibility,
    PollPolicy,
)
from watchparty.parties.payloads import party_payload

if TYPE_CHECKING:
    from watchparty.parties.playback_types import PlaybackState, QueueItem

strawberry.enum(PartyVisibility, description="Who can find and read a party.")
strawberry.enum(PartyStatus, description="SCHEDULED until started, LIVE, then ENDED.")
strawberry.enum(ControlPolicy, description="Who may control playback.")
strawberry.enum(PollPolicy, description="Who may create polls: MODERATORS (and above) or EVERYONE.")


@same_for_every_viewer()
@strawberry.type(description="A party's settings (changed with updateParty).")
class PartySettings:
    max_members: int = strawberry.field(description="2..1000 active members.")
    require_approval: bool = strawberry.field(
        description="Joins wait for a host, co-host or moderator (invite links skip the wait)."
    )
    control_policy: ControlPolicy
    chat_enabled: bool
    reactions_enabled: bool
    wait_for_buffering: bool = strawberry.field(
        description="Pause everyone (bounded) while a member buffers."
    )
    buffering_timeout_seconds: int = strawberry.field(description="1..60; default 8.")
    slow_mode_seconds: int = strawberry.field(
        description="Seconds a member waits between chat messages (0: off; moderators and "
        "above are exempt). Set with setSlowMode."
    )
    poll_policy: PollPolicy = strawberry.field(description="Who may create polls.")
    max_screen_shares: int = strawberry.field(
        description="How many members may share a screen at once (1..10; default 1)."
    )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PartySettings:
        return cls(
            max_members=payload["maxMembers"],
            require_approval=payload["requireApproval"],
            control_policy=ControlPolicy(payload["controlPolicy"]),
            chat_enabled=payload["chatEnabled"],
            reactions_enabled=payload["reactionsEnabled"],
            wait_for_buffering=payload["waitForBuffering"],
            buffering_timeout_seconds=payload["bufferingTimeoutSeconds"],
            slow_mode_seconds=payload.get("slowModeSeconds", 0),
            poll_policy=PollPolicy(payload.get("pollPolicy", PollPolicy.MODERATORS.value)),
            max_screen_shares=payload.get("maxScreenShares", 1),
        )


@same_for_every_viewer(
    "id",
    "title",
    "description",
    "visibility",
    "status",
    "settings",
    "scheduled_start",
    "started_at",
    "ended_at",
    "created_at",
    "host",
    "member_count",
    "online_count",
    "members",
    "playback",
    "queue",
)
@strawberry.type(description="A watch party.")
class Party:
    id: strawberry.ID
    title: str
    description: str | None
    visibility: PartyVisibility
    status: PartyStatus
    settings: PartySettings
    scheduled_start: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    _party_id: strawberry.Private[uuid.UUID]
    _code: strawberry.Private[str]
    _host_id: strawberry.Private[uuid.UUID]
    _host: strawberry.Private[dict[str, Any] | None]
    _code_known_visible: strawberry.Private[bool]

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, stream: bool = True) -> Party:
        """`stream`: rendered for a party stream, whose subscribers may all see the code
        (members, or signed-in viewers of a PUBLIC party), so `code` needs no read."""
        created_at = parse_datetime(payload["createdAt"])
        assert created_at is not None
        return cls(
            id=strawberry.ID(payload["id"]),
            title=payload["title"],
            description=payload.get("description"),
            visibility=PartyVisibility(payload["visibility"]),
            status=PartyStatus(payload["status"]),
            settings=PartySettings.from_payload(payload["settings"]),
            scheduled_start=parse_datetime(payload.get("scheduledStart")),
            started_at=parse_datetime(payload.get("startedAt")),
            ended_at=parse_datetime(payload.get("endedAt")),
            created_at=created_at,
            _party_id=uuid.UUID(payload["id"]),
            _code=payload["code"],
            _host_id=uuid.UUID(payload["hostId"]),
            _host=payload.get("host"),
            _code_known_visible=stream,
        )

    @classmethod
    def from_model(cls, party: models.Party, host: account_models.User | None = None) -> Party:
        return cls.from_payload(party_payload(party, host), stream=False)

    @property
    def party_id(self) -> uuid.UUID:
        """The party's id as a UUID (for the fields other domains contribute)."""
        return self._party_id

    @strawberry.field(
        description="The room code (shown as ABCD-EFGH; dashes and case are ignored when "
        "typed). Null for non-members of UNLISTED and PRIVATE parties: there it is the secret."
    )
    async def code(self, info: Info) -> str | None:
        if self._code_known_visible or self.visibility is PartyVisibility.PUBLIC:
            return self._code
        return self._code if await viewer_role(info, self) is not None else None

    @strawberry.field(description="The current host (null only if that account is gone).")
    async def host(self, info: Info) -> User | None:
        if self._host is not None:
            return user_from_payload(self._host)
        user = await user_loader_of(info.context.loaders).load(self._host_id)
        return None if user is None else User.from_model(user, viewer_id=info.context.viewer_id)

    @strawberry.field(description="Active members.")
    async def member_count(self, info: Info) -> int:
        return await party_loaders_of(info.context.loaders).member_count.load(self._party_id)

    @strawberry.field(description="Active members holding the party stream right now.")
    async def online_count(self, info: Info) -> int:
        return await listing.online_member_count(info.context.state, self._party_id)

    @strawberry.field(
        description="The viewer's membership (ACTIVE, PENDING, KICKED or BANNED); null when "
        "anonymous or never joined, or after leaving."
    )
    async def my_membership(self, info: Info) -> PartyMember | None:
        row = await viewer_row(info, self)
        if row is None or row.status is MemberStatus.LEFT:
            return None
        return await listing.member_with_user(info, row)

    @strawberry.field(
        description="Active members, longest-standing first (page size at most 100). "
        "`online: true` keeps those online, `false` those offline."
    )
    async def members(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        online: bool | None = None,
    ) -> PartyMemberConnection:
        try:
            return await listing.members_connection(info, self._party_id, first, after, online)
        except PaginationError as exc:
            raise client_error(info, exc) from None

    @strawberry.field(
        description="Pending join requests, oldest first (at most 100); null unless the "
        "viewer is a moderator or above."
    )
    async def join_requests(self, info: Info) -> list[PartyMember] | None:
        if not at_least(await viewer_role(info, self), MemberRole.MODERATOR):
            return None
        return await listing.join_requests(info, self._party_id)

    @strawberry.field(
        description="Active invite links, newest first; null unless the viewer is the host "
        "or a co-host."
    )
    async def invite_links(self, info: Info) -> list[InviteLink] | None:
        if not at_least(await viewer_role(info, self), MemberRole.COHOST):
            return None
        links = await listing.invite_links(info, self._party_id)
        return [InviteLink.from_model(link) for link in links]

    # A real cycle (playback_types -> inputs -> this module): imported in these three resolvers.
    @strawberry.field(description="The playback timeline (SYNC.md).")
    async def playback(
        self, info: Info
    ) -> Annotated[PlaybackState, strawberry.lazy("watchparty.parties.playback_types")]:
        from watchparty.parties.playback_types import playback_for_party

        return await playback_for_party(info, self._party_id)

    @strawberry.field(
        description=f"The queue, in play order: its first `first` items (default and null: "
        f"{QUEUE_PAGE_DEFAULT}; a queue holds at most {QUEUE_MAX_ITEMS}, so `first: "
        f"{QUEUE_MAX_ITEMS}` is always the whole queue). `queueLength` counts them all."
    )
    async def queue(
        self, info: Info, first: int | None = QUEUE_PAGE_DEFAULT
    ) -> list[Annotated[QueueItem, strawberry.lazy("watchparty.parties.playback_types")]]:
        from watchparty.parties.playback_types import queue_for_party

        if first is not None and first < 0:
            raise client_error(info, PaginationError("`first` must not be negative."))
        limit = QUEUE_PAGE_DEFAULT if first is None else min(first, QUEUE_MAX_ITEMS)
        return (await queue_for_party(info, self._party_id))[:limit]

    @strawberry.field(description="How many items the queue holds (all of them, see `queue`).")
    async def queue_length(self, info: Info) -> int:
        from watchparty.parties.playback_types import queue_for_party

        return len(await queue_for_party(info, self._party_id))


async def viewer_row(info: Info, party: Party) -> models.PartyMember | None:
    """The viewer's membership row of `party`, whatever its status (None: anonymous, or none)."""
    viewer_id = info.context.viewer_id
    if viewer_id is None:
        return None
    return await party_loaders_of(info.context.loaders).membership.load((party.party_id, viewer_id))


async def viewer_role(info: Info, party: Party) -> MemberRole | None:
    """The viewer's role in `party` while an active member, else None."""
    row = await viewer_row(info, party)
    return row.role if row is not None and row.status is MemberStatus.ACTIVE else None


async def viewer_may_read(info: Info, party: Party) -> bool:
    """`may_read_content` for the viewer: messages, polls and the voice room."""
    row = await viewer_row(info, party)
    signed_in = info.context.viewer_id is not None
    return may_read_content(party.visibility, row, signed_in=signed_in)


@strawberry.type
class PartyEdge:
    cursor: str
    node: Party


@strawberry.type
class PartyConnection:
    edges: list[PartyEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(
    description="What partyByCode shows anyone holding the code, member or not: enough to "
    "decide whether to join."
)
class PartyPreview:
    id: strawberry.ID
    title: str
    visibility: PartyVisibility
    status: PartyStatus
    requires_approval: bool
    member_count: int
    max_members: int
    scheduled_start: datetime | None
    host: User | None
