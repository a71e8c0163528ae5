"""Query and Mutation fields of the video library. Thin: unpack, call one service, map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from watchparty.context import Info
from watchparty.errors import NotFound as NotFoundProblem
from watchparty.gql.errors import (
    Conflict,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PlanLimitExceeded,
    ValidationError,
    returns_errors,
)
from watchparty.gql.pagination import page_info, paging_errors
from watchparty.kit.pagination import page_size
from watchparty.videos import service, upload
from watchparty.videos.party_media import load_readable
from watchparty.videos.types import (
    CreateVideoUploadInput,
    DeleteVideoInput,
    DeleteVideoPayload,
    UpdateVideoInput,
    UploadHeader,
    Video,
    VideoConnection,
    VideoEdge,
    VideoIdInput,
    VideoPayload,
    VideoUploadPayload,
)

CreateVideoUploadResult = Annotated[
    VideoUploadPayload | NotAuthenticated | ValidationError | PlanLimitExceeded,
    strawberry.union("CreateVideoUploadResult"),
]
RenewVideoUploadResult = Annotated[
    VideoUploadPayload | NotAuthenticated | NotFound | NotAllowed | Conflict | ValidationError,
    strawberry.union("RenewVideoUploadResult"),
]
CompleteVideoUploadResult = Annotated[
    VideoPayload | NotAuthenticated | NotFound | NotAllowed | Conflict | ValidationError,
    strawberry.union("CompleteVideoUploadResult"),
]
UpdateVideoResult = Annotated[
    VideoPayload | NotAuthenticated | NotFound | NotAllowed | ValidationError,
    strawberry.union("UpdateVideoResult"),
]
DeleteVideoResult = Annotated[
    DeleteVideoPayload | NotAuthenticated | NotFound | NotAllowed | ValidationError,
    strawberry.union("DeleteVideoResult"),
]


def _upload_payload(ticket: upload.UploadTicket) -> VideoUploadPayload:
    return VideoUploadPayload(
        video=Video.from_model(ticket.video),
        upload_url=ticket.url,
        upload_headers=[UploadHeader(name=k, value=v) for k, v in ticket.headers.items()],
        expires_at=ticket.expires_at,
    )


@strawberry.type
class VideoQueries:
    @strawberry.field(
        description="A video the viewer may see (their own, PUBLIC, UNLISTED, or queued in a "
        "party of theirs); null otherwise."
    )
    async def video(self, info: Info, id: strawberry.ID) -> Video | None:
        async with info.context.state.sessionmaker() as session:
            try:
                found = await load_readable(session, id, info.context.viewer_id)
            except NotFoundProblem:
                return None
        return Video.from_model(found)

    @strawberry.field(
        description="The viewer's videos, newest first (page size at most 100); null when "
        "anonymous."
    )
    async def my_videos(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> VideoConnection | None:
        viewer = await info.context.viewer()
        if viewer is None:
            return None
        async with info.context.state.sessionmaker() as session:
            with paging_errors(info):
                page = await service.my_videos(session, viewer.id, page_size(first), after)
        edges = [
            VideoEdge(node=Video.from_model(v), cursor=c)
            for v, c in zip(page.videos, page.cursors, strict=True)
        ]
        return VideoConnection(
            edges=edges,
            page_info=page_info(
                page.cursors, has_next=page.has_next_page, has_previous=after is not None
            ),
        )


@strawberry.type
class VideoMutations:
    @strawberry.mutation(description="Start an upload: a PRIVATE video and a signed upload URL.")
    @returns_errors
    async def create_video_upload(
        self, info: Info, input: CreateVideoUploadInput
    ) -> CreateVideoUploadResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            ticket = await upload.create_upload(
                uow,
                viewer.id,
                title=input.title,
                filename=input.filename,
                size_bytes=input.size_bytes,
                content_type=input.content_type,
            )
        return _upload_payload(ticket)

    @strawberry.mutation(description="A fresh upload URL for an unfinished upload (bytes kept).")
    @returns_errors
    async def renew_video_upload(self, info: Info, input: VideoIdInput) -> RenewVideoUploadResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            ticket = await upload.renew_upload(uow, viewer.id, input.video_id)
        return _upload_payload(ticket)

    @strawberry.mutation(description="Every byte arrived: queue processing (status QUEUED).")
    @returns_errors
    async def complete_video_upload(
        self, info: Info, input: VideoIdInput
    ) -> CompleteVideoUploadResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            video = await upload.complete_upload(uow, viewer.id, input.video_id)
        return VideoPayload(video=Video.from_model(video))

    @strawberry.mutation(description="Change a video's title, description or visibility.")
    @returns_errors
    async def update_video(self, info: Info, input: UpdateVideoInput) -> UpdateVideoResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            video = await service.update_video(
                uow,
                viewer.id,
                input.id,
                title=input.title,
                description=input.description,
                visibility=input.visibility,
                premium_only=input.premium_only,
            )
        return VideoPayload(video=Video.from_model(video))

    @strawberry.mutation(description="Delete a video: stops processing and removes its files.")
    @returns_errors
    async def delete_video(self, info: Info, input: DeleteVideoInput) -> DeleteVideoResult:
        ctx = info.context
        viewer = await ctx.require_viewer()
        async with ctx.state.unit_of_work() as uow:
            video_id = await service.delete_video(uow, viewer.id, input.id)
        return DeleteVideoPayload(deleted_video_id=strawberry.ID(str(video_id)))
