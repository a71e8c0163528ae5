"""The demo's processed sample video: a short ffmpeg test pattern in Alice's library, processed
to HLS in the seed process and queued in the demo party (part of `watchparty seed-demo`).

Idempotent: the sample is found by owner and title. A READY sample is only queued (once); one
that is not READY (a previous seed died mid-way) has its original stored again and is processed
again. Without ffmpeg the demo goes on without the video and says so on stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
import uuid
from pathlib import Path
from shutil import which
from typing import TYPE_CHECKING

from sqlalchemy import select

from watchparty.kit.time import utcnow
from watchparty.videos.lease import MAX_ATTEMPTS
from watchparty.videos.models import (
    Video,
    VideoProvider,
    VideoStatus,
    VideoVisibility,
    original_key,
    video_prefix,
)
from watchparty.videos.storage import get_storage

if TYPE_CHECKING:
    from watchparty.accounts.models import User
    from watchparty.parties.models import Party
    from watchparty.state import AppState

SAMPLE_TITLE = "Demo sample (test pattern)"
SAMPLE_FILENAME = "demo-sample.mp4"
SAMPLE_SECONDS = 10
SAMPLE_SIZE = "640x360"
# A small ladder whatever PROCESSING_HEIGHTS says: the seed stays quick and the demo still shows
# a player switching renditions.
SAMPLE_HEIGHTS = "360,240"
MAKE_TIMEOUT_SECONDS = 120


class SampleUnavailable(Exception):
    """The sample could not be made or processed; the message says why (for the note)."""


def note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


async def seed_sample_video(state: AppState, alice: User, party: Party) -> str | None:
    """Alice's READY sample queued once in the demo party; its id, or None (with a note)."""
    try:
        video_id = await _ready_sample(state, alice)
    except SampleUnavailable as exc:
        note(f"{exc}; the demo party has no sample video (run seed-demo again to retry).")
        return None
    await _queue_once(state, alice, party, video_id)
    return str(video_id)


async def _ready_sample(state: AppState, alice: User) -> uuid.UUID:
    async with state.unit_of_work() as uow:
        sample = await uow.session.scalar(
            select(Video)
            .where(
                Video.owner_id == alice.id,
                Video.title == SAMPLE_TITLE,
                Video.deleted_at.is_(None),
            )
            .order_by(Video.created_at)
            .limit(1)
        )
        if sample is not None and sample.status is VideoStatus.READY:
            ready: uuid.UUID = sample.id
            return ready
        unfinished = None if sample is None else sample.id
        attempts = 0 if sample is None else sample.processing_attempts
    settings = state.settings
    missing = [name for name in (settings.ffmpeg_path, settings.ffprobe_path) if not which(name)]
    if missing:
        raise SampleUnavailable(f"{' and '.join(missing)} not found")
    if unfinished is not None and attempts >= MAX_ATTEMPTS:
        await _retire(state, unfinished)  # processing gave up on it: start from a new row
        unfinished = None
    with tempfile.TemporaryDirectory(prefix="watchparty-seed-") as work:
        path = await _make_sample(settings.ffmpeg_path, Path(work) / SAMPLE_FILENAME)
        video_id = await _store_queued(state, alice, path, unfinished)
    await _process(state, video_id)
    return video_id


async def _make_sample(ffmpeg: str, path: Path) -> Path:
    """An H.264 + AAC MP4 test pattern with a tone, SAMPLE_SECONDS long at SAMPLE_SIZE."""
    command = [ffmpeg, "-v", "error", "-nostdin", "-y"]
    command += ["-f", "lavfi", "-i", f"testsrc2=size={SAMPLE_SIZE}:rate=25"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    command += ["-t", str(SAMPLE_SECONDS), "-c:v", "libx264", "-preset", "veryfast"]
    command += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)]
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), MAKE_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SampleUnavailable("ffmpeg took too long to make the sample video") from None
    if process.returncode != 0:
        last = (stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise SampleUnavailable(f"ffmpeg could not make the sample video ({last})")
    return path


async def _store_queued(
    state: AppState, alice: User, path: Path, video_id: uuid.UUID | None
) -> uuid.UUID:
    """The sample's original in storage and its row QUEUED: a new row, or the unfinished one."""
    vid = video_id or uuid.uuid4()
    storage = get_storage(state)
    await storage.put_file(original_key(vid), path)
    size = await storage.size(original_key(vid)) or 0
    async with state.unit_of_work() as uow:
        video = None if video_id is None else await uow.session.get(Video, video_id)
        if video is None:
            video = Video(
                id=vid,
                owner_id=alice.id,
                title=SAMPLE_TITLE,
                description="A test pattern with a 440 Hz tone, made by `watchparty seed-demo`.",
                visibility=VideoVisibility.UNLISTED,
                provider=VideoProvider.UPLOAD,
                filename=SAMPLE_FILENAME,
                content_type="video/mp4",
            )
            uow.session.add(video)
        # A previous seed's run is dead (this command is the only one processing the sample);
        # the next claim takes a new lease token, so a late write of that run would be refused.
        video.status = VideoStatus.QUEUED
        video.size_bytes = video.received_bytes = size
        video.original_key = original_key(vid)
        video.processing_stage = None
        video.processing_error = None
    return vid


async def _retire(state: AppState, video_id: uuid.UUID) -> None:
    async with state.unit_of_work() as uow:
        video = await uow.session.get(Video, video_id)
        if video is not None:
            video.deleted_at = utcnow()
    await get_storage(state).delete_prefix(video_prefix(video_id))


async def _process(state: AppState, video_id: uuid.UUID) -> None:
    """`process_video` run here, as a worker would (same ctx shape), with the small ladder."""
    from watchparty.videos.tasks import process_video

    settings = state.settings.model_copy(update={"processing_heights": SAMPLE_HEIGHTS})
    ctx = {"state": dataclasses.replace(state, settings=settings)}
    try:
        outcome = await process_video(ctx, str(video_id))
    except Exception:  # a transient error (arq's Retry): the row is QUEUED again with a note
        outcome = "retry"
    if outcome != "ready":
        async with state.sessionmaker() as session:
            video = await session.get(Video, video_id)
        reason = "" if video is None or not video.processing_error else video.processing_error
        raise SampleUnavailable(f"processing the sample video ended {outcome!r} {reason}".strip())


async def _queue_once(state: AppState, alice: User, party: Party, video_id: uuid.UUID) -> None:
    from watchparty.parties.models import QueueItem
    from watchparty.parties.playback_queue import add_to_queue
    from watchparty.parties.validation import Media

    async with state.unit_of_work() as uow:
        queued = await uow.session.scalar(
            select(QueueItem.id)
            .where(QueueItem.party_id == party.id, QueueItem.video_id == video_id)
            .limit(1)
        )
        if queued is None:
            media = Media(video_id=str(video_id))
            await add_to_queue(uow, alice.id, str(party.id), media, None)
