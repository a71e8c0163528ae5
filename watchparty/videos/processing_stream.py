"""The `videoProcessing(videoId)` source stream: the current state first, then every change,
ending after READY or FAILED (or when the video is deleted: `VideoDeleted`, or the re-read).

Owner only: signed out is NOT_AUTHENTICATED, a video the viewer may not see is NOT_FOUND, and
someone else's visible video is NOT_ALLOWED (the codes of the mutations). The stream subscribes
to `video:<id>` before reading the row, so no change falls in between. Progress arrives as
ephemeral events (best effort); when the channel stays quiet for `QUIET_SECONDS` the stream
re-reads the row, so a lost message or a dead worker never leaves the client on a stale state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from watchparty.errors import NotAllowed, NotFound
from watchparty.events import EndReason, StreamEnded
from watchparty.gql.streams import ended_error, problem_error, stream_error
from watchparty.realtime import HubClosed, SubscriberOverflow
from watchparty.videos import progress
from watchparty.videos.service import load_owned, parse_video_id

if TYPE_CHECKING:
    from watchparty.state import AppState

QUIET_SECONDS = 5.0


async def _current(
    state: AppState, raw_video_id: str, viewer_id: uuid.UUID
) -> progress.ProcessingChanged:
    async with state.sessionmaker() as session:
        try:
            video = await load_owned(session, raw_video_id, viewer_id, field="videoId")
        except (NotFound, NotAllowed) as exc:
            raise problem_error(exc) from None
        return progress.processing_payload(video)


async def processing_stream(
    state: AppState, raw_video_id: str, viewer_id: uuid.UUID | None
) -> AsyncGenerator[progress.ProcessingChanged, None]:
    """The processing states of `raw_video_id`, for its owner."""
    if viewer_id is None:
        raise stream_error("You need to sign in.", "NOT_AUTHENTICATED")
    try:
        video_id = parse_video_id(raw_video_id, "videoId")
    except NotFound as exc:
        raise stream_error(exc.message, "NOT_FOUND") from None
    try:
        async with state.hub.subscribe(progress.video_channel(video_id)) as deliveries:
            last = await _current(state, raw_video_id, viewer_id)
            yield last
            while not last.final:
                try:
                    delivery = await asyncio.wait_for(anext(deliveries), QUIET_SECONDS)
                    if isinstance(delivery.payload, progress.VideoDeleted):
                        return
                    if not isinstance(delivery.payload, progress.ProcessingChanged):
                        continue
                    current = delivery.payload
                except TimeoutError:
                    try:
                        current = await _current(state, raw_video_id, viewer_id)
                    except Exception:
                        return  # deleted meanwhile: nothing more will happen
                if current != last:
                    last = current
                    yield current
    except SubscriberOverflow:
        raise ended_error(StreamEnded(EndReason.OVERFLOW), resumable=False) from None
    except HubClosed:
        raise ended_error(StreamEnded(EndReason.CLOSED), resumable=False) from None
