"""`addExternalVideo`: a library video for a YouTube, Vimeo, Twitch, MP4 or HLS link."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.gql.errors import NotAuthenticated, ValidationError, returns_errors
from watchparty.videos.external import add_external_video
from watchparty.videos.types import Video, VideoPayload

AddExternalVideoResult = Annotated[
    VideoPayload | NotAuthenticated | ValidationError,
    strawberry.union("AddExternalVideoResult"),
]


@strawberry.input
class AddExternalVideoInput:
    url: str = strawberry.field(
        description="A YouTube (watch, youtu.be, shorts, embed), Vimeo or Twitch (VOD or "
        "channel) page, or a direct .mp4 / .m3u8 link; at most 2000 characters."
    )


@strawberry.type
class ExternalVideoMutations:
    @strawberry.mutation(
        description="Add an external video (READY at once, PRIVATE; title, duration and "
        "thumbnail arrive shortly from the provider). The same link twice returns the same video."
    )
    @returns_errors
    async def add_external_video(
        self, info: Info, input: AddExternalVideoInput
    ) -> AddExternalVideoResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            video = await add_external_video(uow, viewer.id, input.url)
        return VideoPayload(video=Video.from_model(video))
