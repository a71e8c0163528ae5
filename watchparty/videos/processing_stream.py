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
from typing import TYPE_CHECKING, Any

from watchparty.errors import NotAllowed, NotFound
from watchparty.parties.stream import stream_error
from watchparty.realtime import HubClosed, SubscriberOverflow
from watchparty.videos import progress
from watchparty.videos.service import load_owned, parse_video_id

if TYPE_CHECKING:
    from watchparty.state import AppState

QUIET_SECONDS = 5.0


async def _current(state: AppState, raw_video_id: str, viewer_id: uuid.UUID) -> dict[str, Any]:
    async with state.sessionmaker() as session:
        try:
            video = await load_owned(session, raw_video_id, viewer_id, field="videoId")
        except NotFound as exc:
            raise stream_error(exc.message, "NOT_FOUND") from None
        except NotAllowed as exc:
            raise stream_error(exc.message, "NOT_ALLOWED") from None
        return progress.processing_payload(video)


async def processing_stream(
    state: AppState, raw_video_id: str, viewer_id: uuid.UUID | None
) -> AsyncGenerator[dict[str, Any], None]:
    """Payloads (see `progress.payload`) for the owner of `raw_video_id`."""
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
            while not progress.is_final(last):
                try:
                    delivery = await asyncio.wait_for(anext(deliveries), QUIET_SECONDS)
                    kind = delivery.payload.get("type")
                    if kind == progress.DELETED_TYPE:
                        return
                    if kind != progress.EVENT_TYPE:
                        continue
                    current = dict(delivery.payload)
                except TimeoutError:
                    try:
                        current = await _current(state, raw_video_id, viewer_id)
                    except Exception:
                        return  # deleted meanwhile: nothing more will happen
                if current != last:
                    last = current
                    yield current
    except SubscriberOverflow:
        raise stream_error("The stream fell behind; reconnect.", "STREAM_OVERFLOW") from None
    except HubClosed:
        raise stream_error("The server is shutting down; reconnect.", "STREAM_CLOSED") from None
