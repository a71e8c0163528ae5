"""GraphQL types for parties: Party, PartySettings, PartyPreview and the party connection.

Members and invite links are in `member_types`, the mutations' expected errors in `error_types`.

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
from watchparty.parties import models
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
    from watchparty.chat.moderation_types import MemberMute, ModerationLogConnection
    from watchparty.chat.types import ChatMessageConnection
    from watchparty.parties.playback_types import PlaybackState, QueueItem
    from watchparty.polls.types import PollConnection, PollStatus
    from watchparty.reactions.types import ReactionStats
    from watchparty.voice.types import ScreenShare, VoiceParticipant

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

    async def _viewer_row(self, info: Info) -> models.PartyMember | None:
        viewer_id = info.context.viewer_id
        if viewer_id is None:
            return None
        return await party_loaders_of(info.context.loaders).membership.load(
            (self._party_id, viewer_id)
        )

    async def _viewer_role(self, info: Info) -> MemberRole | None:
        row = await self._viewer_row(info)
        return row.role if row is not None and row.status is MemberStatus.ACTIVE else None

    async def _viewer_may_read(self, info: Info) -> bool:
        """`may_read_content` for the viewer: messages, polls and the voice room."""
        row = await self._viewer_row(info)
        signed_in = info.context.viewer_id is not None
        return may_read_content(self.visibility, row, signed_in=signed_in)

    @strawberry.field(
        description="The room code (shown as ABCD-EFGH; dashes and case are ignored when "
        "typed). Null for non-members of UNLISTED and PRIVATE parties: there it is the secret."
    )
    async def code(self, info: Info) -> str | None:
        if self._code_known_visible or self.visibility is PartyVisibility.PUBLIC:
            return self._code
        return self._code if await self._viewer_role(info) is not None else None

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
        from watchparty.parties.listing import online_member_count

        return await online_member_count(info.context.state, self._party_id)

    @strawberry.field(
        description="The viewer's membership (ACTIVE, PENDING, KICKED or BANNED); null when "
        "anonymous or never joined, or after leaving."
    )
    async def my_membership(self, info: Info) -> PartyMember | None:
        from watchparty.parties.listing import member_with_user

        row = await self._viewer_row(info)
        if row is None or row.status is MemberStatus.LEFT:
            return None
        return await member_with_user(info, row)

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
        from watchparty.parties.listing import members_connection

        try:
            return await members_connection(info, self._party_id, first, after, online)
        except PaginationError as exc:
            raise client_error(info, exc) from None

    @strawberry.field(
        description="Pending join requests, oldest first (at most 100); null unless the "
        "viewer is a moderator or above."
    )
    async def join_requests(self, info: Info) -> list[PartyMember] | None:
        from watchparty.parties.listing import join_requests

        if not at_least(await self._viewer_role(info), MemberRole.MODERATOR):
            return None
        return await join_requests(info, self._party_id)

    @strawberry.field(
        description="Active invite links, newest first; null unless the viewer is the host "
        "or a co-host."
    )
    async def invite_links(self, info: Info) -> list[InviteLink] | None:
        from watchparty.parties.listing import invite_links

        if not at_least(await self._viewer_role(info), MemberRole.COHOST):
            return None
        return [InviteLink.from_model(link) for link in await invite_links(info, self._party_id)]

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

    # Fields of other domains: each a resolver of a few lines delegating to its package (lazy
    # types, imports inside the resolver).

    # -- chat (watchparty.chat)
    @strawberry.field(
        description="Chat history, newest first (`last` at most 100; older pages with "
        "`before: pageInfo.endCursor`). Null unless the viewer may follow the party's stream."
    )
    async def messages(
        self, info: Info, last: int | None = 50, before: str | None = None
    ) -> Annotated[ChatMessageConnection, strawberry.lazy("watchparty.chat.types")] | None:
        from watchparty.chat.history_resolvers import messages_connection

        if not await self._viewer_may_read(info):
            return None
        try:
            return await messages_connection(info, self._party_id, last, before)
        except PaginationError as exc:
            raise client_error(info, exc) from None

    # -- chat moderation (watchparty.chat.moderation_types)
    @strawberry.field(
        description="Moderation actions, newest first (page size at most 100); null unless the "
        "viewer is a moderator or above."
    )
    async def moderation_log(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> (
        Annotated[ModerationLogConnection, strawberry.lazy("watchparty.chat.moderation_types")]
        | None
    ):
        from watchparty.chat.moderation_types import moderation_log

        try:
            return await moderation_log(
                info, self._party_id, await self._viewer_role(info), first, after
            )
        except PaginationError as exc:
            raise client_error(info, exc) from None

    @strawberry.field(
        description="Chat mutes in force, newest first (at most 100); null unless the viewer "
        "is a moderator or above."
    )
    async def muted_members(
        self, info: Info
    ) -> list[Annotated[MemberMute, strawberry.lazy("watchparty.chat.moderation_types")]] | None:
        from watchparty.chat.moderation_types import party_mutes

        return await party_mutes(info, self._party_id, await self._viewer_role(info))

    @strawberry.field(description="The viewer's chat mute in force here, if any.")
    async def my_mute(
        self, info: Info
    ) -> Annotated[MemberMute, strawberry.lazy("watchparty.chat.moderation_types")] | None:
        from watchparty.chat.moderation_types import my_mute

        return await my_mute(info, self._party_id)

    # -- polls (watchparty.polls)
    @strawberry.field(
        description="Polls, newest first (page size at most 100); null unless the viewer is a "
        "member, or signed in on a PUBLIC party. `status` keeps OPEN or CLOSED ones."
    )
    async def polls(
        self,
        info: Info,
        first: int | None = 10,
        after: str | None = None,
        status: Annotated[PollStatus, strawberry.lazy("watchparty.polls.types")] | None = None,
    ) -> Annotated[PollConnection, strawberry.lazy("watchparty.polls.types")] | None:
        from watchparty.polls.listing import polls_for_party

        if not await self._viewer_may_read(info):
            return None
        return await polls_for_party(info, self._party_id, first, after, status)

    # -- live reactions (watchparty.reactions)
    @strawberry.field(
        description="Live reaction counts for the host's analytics; null unless the viewer is "
        "the host or a co-host."
    )
    async def reaction_stats(
        self, info: Info
    ) -> Annotated[ReactionStats, strawberry.lazy("watchparty.reactions.types")] | None:
        from watchparty.reactions.types import reaction_stats

        if not at_least(await self._viewer_role(info), MemberRole.COHOST):
            return None
        return await reaction_stats(info, self._party_id)

    # -- voice and screen share (watchparty.voice)
    @strawberry.field(
        description="Who is in the voice room, first joined first (members and stream viewers; "
        "empty for anybody else)."
    )
    async def voice_participants(
        self, info: Info
    ) -> list[Annotated[VoiceParticipant, strawberry.lazy("watchparty.voice.types")]]:
        from watchparty.voice.types import participants_for_party

        if not await self._viewer_may_read(info):
            return []
        return await participants_for_party(info, self._party_id)

    @strawberry.field(
        description="Members sharing a screen, first started first (members and stream "
        "viewers; empty for anybody else)."
    )
    async def screen_shares(
        self, info: Info
    ) -> list[Annotated[ScreenShare, strawberry.lazy("watchparty.voice.types")]]:
        from watchparty.voice.types import shares_for_party

        if not await self._viewer_may_read(info):
            return []
        return await shares_for_party(info, self._party_id)


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
