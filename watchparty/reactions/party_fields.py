"""Live reactions' field of `Party`, contributed by the composition root (`schema.py`,
`gql.extend`)."""

from __future__ import annotations

import strawberry

from watchparty.context import Info
from watchparty.parties.authz import at_least
from watchparty.parties.models import MemberRole
from watchparty.parties.types import Party, viewer_role
from watchparty.reactions import types as reaction_types
from watchparty.reactions.types import ReactionStats


@strawberry.type
class ReactionPartyFields:
    @strawberry.field(
        description="Live reaction counts for the host's analytics; null unless the viewer is "
        "the host or a co-host."
    )
    @staticmethod
    async def reaction_stats(root: Party, info: Info) -> ReactionStats | None:
        if not at_least(await viewer_role(info, root), MemberRole.COHOST):
            return None
        return await reaction_types.reaction_stats(info, root.party_id)
