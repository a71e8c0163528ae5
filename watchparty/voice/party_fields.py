"""Voice's fields of `Party` (the voice room, screen shares), contributed by the composition root
(`schema.py`, `gql.extend`)."""

from __future__ import annotations

import strawberry

from watchparty.context import Info
from watchparty.parties.types import Party, viewer_may_read
from watchparty.voice.types import (
    ScreenShare,
    VoiceParticipant,
    participants_for_party,
    shares_for_party,
)


@strawberry.type
class VoicePartyFields:
    @strawberry.field(
        description="Who is in the voice room, first joined first (members and stream viewers; "
        "empty for anybody else)."
    )
    @staticmethod
    async def voice_participants(root: Party, info: Info) -> list[VoiceParticipant]:
        if not await viewer_may_read(info, root):
            return []
        return await participants_for_party(info, root.party_id)

    @strawberry.field(
        description="Members sharing a screen, first started first (members and stream "
        "viewers; empty for anybody else)."
    )
    @staticmethod
    async def screen_shares(root: Party, info: Info) -> list[ScreenShare]:
        if not await viewer_may_read(info, root):
            return []
        return await shares_for_party(info, root.party_id)
