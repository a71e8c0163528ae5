"""Chat's fields of `Party`: its history, and for moderators the log and the mutes in force.

Contributed to `parties.types.Party` by the composition root (`schema.py`, `gql.extend`): parties
does not know chat. Each resolver gets the party as `root` and asks parties what the viewer may
see (`viewer_may_read`, `viewer_role`).
"""

from __future__ import annotations

import strawberry

from watchparty.chat import moderation_types
from watchparty.chat.history_resolvers import messages_connection
from watchparty.chat.moderation_types import MemberMute, ModerationLogConnection
from watchparty.chat.types import ChatMessageConnection
from watchparty.context import Info
from watchparty.gql.pagination import client_error
from watchparty.kit.pagination import PaginationError
from watchparty.parties.types import Party, viewer_may_read, viewer_role


@strawberry.type
class ChatPartyFields:
    @strawberry.field(
        description="Chat history, newest first (`last` at most 100; older pages with "
        "`before: pageInfo.endCursor`). Null unless the viewer may follow the party's stream."
    )
    @staticmethod
    async def messages(
        root: Party, info: Info, last: int | None = 50, before: str | None = None
    ) -> ChatMessageConnection | None:
        if not await viewer_may_read(info, root):
            return None
        try:
            return await messages_connection(info, root.party_id, last, before)
        except PaginationError as exc:
            raise client_error(info, exc) from None


@strawberry.type
class ChatModerationPartyFields:
    @strawberry.field(
        description="Moderation actions, newest first (page size at most 100); null unless the "
        "viewer is a moderator or above."
    )
    @staticmethod
    async def moderation_log(
        root: Party, info: Info, first: int | None = 20, after: str | None = None
    ) -> ModerationLogConnection | None:
        role = await viewer_role(info, root)
        try:
            return await moderation_types.moderation_log(info, root.party_id, role, first, after)
        except PaginationError as exc:
            raise client_error(info, exc) from None

    @strawberry.field(
        description="Chat mutes in force, newest first (at most 100); null unless the viewer "
        "is a moderator or above."
    )
    @staticmethod
    async def muted_members(root: Party, info: Info) -> list[MemberMute] | None:
        role = await viewer_role(info, root)
        return await moderation_types.party_mutes(info, root.party_id, role)

    @strawberry.field(description="The viewer's chat mute in force here, if any.")
    @staticmethod
    async def my_mute(root: Party, info: Info) -> MemberMute | None:
        return await moderation_types.my_mute(info, root.party_id)
