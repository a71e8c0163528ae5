"""Video jobs: `process_video` (probe, thumbnail, HLS ladder), the stale sweeper, file removal.

The ladder is PROCESSING_HEIGHTS up to the owner's plan's PROCESSING_HEIGHT, read when the
video is processed (`within_plan`).

`process_video(video_id)` is enqueued by `completeVideoUpload` with the id
`process_video:<video id>:<attempt>`. A run claims the video (see `lease.py`), cleans any partial
output of an earlier run, works in a private temporary directory, uploads the results (variant
playlists and segments first, the master playlist last) and marks the video READY in one guarded
write. Outcomes:

- not a playable video (ffprobe cannot read it, no picture, a still image): FAILED with a reason;
- a transient error (ffmpeg killed or timed out, storage or database trouble): back to QUEUED and
  an explicit `Retry` with backoff, FAILED with the error after `MAX_ATTEMPTS` runs;
- the video deleted meanwhile (the heartbeat finds `deleted_at` set): ffmpeg is killed, the run
  removes what it wrote and stops;
- a worker that dies mid-run stops the heartbeat: `sweep_stale_processing` (every 5 s)
  re-queues the video after `processing_stale_seconds` under a new job id; its ffmpeg died with
  it (ffmpeg.py). A worker started on that machine removes its work directory (workdirs.py) and
  re-queues the video at once (`requeue_dead_runs`): a restarted worker does not wait for the
  heartbeat to go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arq.worker import Retry
from sqlalchemy import or_, select

from watchparty import tracking
from watchparty.billing.entitlements import effective
from watchparty.db import UnitOfWork
from watchparty.kit.time import utcnow
from watchparty.videos import ffmpeg, progress
from watchparty.videos.lease import MAX_ATTEMPTS, Lease, LeaseLost, Refusal, claim
from watchparty.videos.models import Video, VideoProvider, VideoStatus, video_prefix
from watchparty.videos.storage import LocalStorage, Storage, get_storage
from watchparty.videos.workdirs import DeadRun, work_directory

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

PROCESS_JOB = "process_video"
SWEEP_BATCH = 100
# How often a run proves it is alive and checks it still owns the video (delete = cancel).
HEARTBEAT_SECONDS = 2.0
# A QUEUED video whose job got lost (a Redis restart without persistence) is re-queued after
# this long, or PROCESSING_STALE_SECONDS if longer: not sooner, so that a retry's backoff
# (`backoff_seconds`, up to 80 s within MAX_ATTEMPTS) is not cut short by the sweeper.
QUEUED_LOST_SECONDS = 120.0
# Overall progress per stage: transcoding is nearly all of the work.
TRANSCODE_FROM, TRANSCODE_TO = 0.05, 0.95


def process_job_id(video_id: uuid.UUID | str, attempt: int) -> str:
    return f"{PROCESS_JOB}:{video_id}:{attempt}"


def ladder_heights(raw: str) -> list[int]:
    """PROCESSING_HEIGHTS ("1080,720,480") as integers; blanks and junk ignored."""
    return [int(part) for part in raw.replace(" ", "").split(",") if part.isdigit()]


def within_plan(heights: list[int], cap: int | None) -> list[int]:
    """The configured heights the owner's plan lets processing make (None: no cap). A plan
    below every configured height gets one rung at its cap (never taller, whatever the
    source): a downgrade applies to what is processed from then on, never to what exists."""
    if cap is None:
        return heights
    kept = [h for h in heights if h <= cap]
    return kept or [cap]


async def _owner_plan_height(state: AppState, video_id: uuid.UUID) -> int | None:
    """The tallest rendition the owner's plan allows now (PROCESSING_HEIGHT); None when billing
    is off."""
    settings = state.settings
    if not settings.billing_enabled:
        return None
    async with state.sessionmaker() as session:
        owner_id = await session.scalar(select(Video.owner_id).where(Video.id == video_id))
        if owner_id is None:
            return None
        found = await effective(session, owner_id, settings, utcnow())
    return found.entitlements.processing_height


def hls_prefix(video_id: uuid.UUID | str) -> str:
    return f"videos/{video_id}/hls/"


def thumbnail_key(video_id: uuid.UUID | str) -> str:
    return f"videos/{video_id}/thumb.jpg"


def backoff_seconds(attempt: int) -> float:
    """5, 20, 80 seconds... capped at ten minutes."""
    return float(min(5 * 4 ** max(attempt - 1, 0), 600))


async def process_video(ctx: dict[str, Any], video_id: str, attempt: int | None = None) -> str:
    """Turn an uploaded original into a thumbnail and an HLS ladder (idempotent; see above).
    `attempt` is the enqueuer's count, for the job id and logs only: the lease decides."""
    state: AppState = ctx["state"]
    claimed = await claim(state, uuid.UUID(video_id))
    if isinstance(claimed, Refusal):
        return claimed.reason
    lease = claimed
    try:
        async with _heartbeat(lease):
            await _pipeline(state, lease)
        await _track_outcome(state, lease.video_id, "READY")
        return "ready"
    except LeaseLost:
        await _clean_if_deleted(state, lease.video_id)
        return "lost"
    except ffmpeg.NotAVideo as exc:
        await _settle(lease, VideoStatus.FAILED, exc.reason)
        await _track_outcome(state, lease.video_id, "NOT_A_VIDEO")
        return "failed"
    except asyncio.CancelledError:
        # Worker shutdown (ARQ runs the job again) or ARQ's own timeout: hand the video back
        # now rather than after the stale period; attempts still count towards MAX_ATTEMPTS.
        with contextlib.suppress(Exception):
            await asyncio.shield(lease.release())
        raise
    except Exception as exc:
        reason = _transient_reason(exc)
        if lease.token >= MAX_ATTEMPTS:
            with contextlib.suppress(Exception):  # a half-stored ladder must not linger
                await _remove_outputs(get_storage(state), lease.video_id)
            await _settle(
                lease,
                VideoStatus.FAILED,
                f"Processing failed {MAX_ATTEMPTS} times; the last error: {reason}.",
            )
            await _track_outcome(state, lease.video_id, "FAILED")
            return "failed"
        log.warning(
            "video processing failed, will retry", extra={"video_id": video_id}, exc_info=True
        )
        delay = backoff_seconds(lease.token)
        note = (
            f"Attempt {lease.token} of {MAX_ATTEMPTS} failed ({reason}); retrying in {delay:.0f} s."
        )
        with contextlib.suppress(Exception):
            await lease.release(note)
        raise Retry(defer=delay) from exc


async def _track_outcome(state: AppState, video_id: uuid.UUID, outcome: str) -> None:
    event = tracking.Tracked("video.processed", video_id=video_id, properties={"outcome": outcome})
    await tracking.emit(state, [event])


def _transient_reason(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        name = Path(str(exc.filename)).name
        if name in ("ffmpeg", "ffprobe"):
            return f"{name} is not installed on the worker"
    return str(exc) or type(exc).__name__


async def _settle(lease: Lease, status: VideoStatus, reason: str) -> None:
    with contextlib.suppress(LeaseLost):
        await lease.finish(status, reason)


async def _clean_if_deleted(state: AppState, video_id: uuid.UUID) -> None:
    """A deleted video's files go; `remove_video_files` does the same, this covers the race
    where this run uploaded after that job ran."""
    async with state.sessionmaker() as session:
        video = await session.get(Video, video_id)
    if video is None or video.deleted_at is not None:
        await get_storage(state).delete_prefix(video_prefix(video_id))
        await progress.publish_deleted(state, video_id)


@contextlib.asynccontextmanager
async def _heartbeat(lease: Lease) -> AsyncIterator[None]:
    """Refresh the heartbeat (and stored progress) while the block runs; when the lease is lost
    (video deleted or taken over), cancel the block and raise `LeaseLost`."""
    every = min(HEARTBEAT_SECONDS, lease.state.settings.processing_stale_seconds / 4)
    owner = asyncio.current_task()
    assert owner is not None
    lost: list[LeaseLost] = []

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await lease.beat()
            except LeaseLost as exc:
                lost.append(exc)
                owner.cancel()
                return
            except Exception:  # the database hiccuped: the next beat retries
                log.warning("heartbeat failed", exc_info=True)

    task = asyncio.create_task(beat())
    try:
        yield
    except asyncio.CancelledError:
        if lost and owner.uncancel() == 0:
            raise lost[0] from None
        raise
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _pipeline(state: AppState, lease: Lease) -> None:
    settings = state.settings
    storage = get_storage(state)
    vid = lease.video_id
    # A retried or duplicated run starts from nothing: what an earlier run left goes first.
    await _remove_outputs(storage, vid)
    with work_directory(vid, lease.token) as raw_dir:
        work = Path(raw_dir)
        source = await _local_original(storage, lease.original_key, work)
        probe = await ffmpeg.probe(settings.ffprobe_path, source)
        await lease.write(
            duration_seconds=probe.duration_seconds,
            width=probe.width,
            height=probe.height,
            video_codec=probe.video_codec,
            audio_codec=probe.audio_codec,
            frame_rate=probe.frame_rate,
            bitrate_kbps=probe.bitrate_kbps,
        )

        await lease.enter("THUMBNAIL", 0.02)
        thumb = work / "thumb.jpg"
        await ffmpeg.run(
            ffmpeg.thumbnail_command(settings.ffmpeg_path, source, thumb, probe), time_limit=120
        )

        await lease.enter("TRANSCODING", TRANSCODE_FROM)
        heights = within_plan(
            ladder_heights(settings.processing_heights), await _owner_plan_height(state, vid)
        )
        rungs = ffmpeg.ladder(probe.height, heights)
        out = work / "hls"
        for rung in rungs:
            (out / rung.name).mkdir(parents=True)

        async def on_progress(fraction: float) -> None:
            lease.progress = TRANSCODE_FROM + (TRANSCODE_TO - TRANSCODE_FROM) * fraction
            await lease.publish()

        await ffmpeg.run(
            ffmpeg.hls_command(settings.ffmpeg_path, source, out, rungs, probe),
            time_limit=ffmpeg.transcode_timeout_seconds(
                probe, rungs, settings.processing_timeout_factor
            ),
            duration_seconds=probe.duration_seconds,
            on_progress=on_progress,
        )

        await lease.enter("FINALIZING", TRANSCODE_TO)
        prefix = hls_prefix(vid)
        for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "master.m3u8"):
            await storage.put_file(prefix + path.relative_to(out).as_posix(), path)
        await storage.put_file(prefix + "master.m3u8", out / "master.m3u8")
        await storage.put_file(thumbnail_key(vid), thumb)
        renditions = [
            {
                "height": rung.height,
                "width": _scaled_width(probe, rung.height),
                "bitrateKbps": rung.bitrate_kbps if probe.has_audio else rung.video_kbps,
                "playlistKey": f"{prefix}{rung.name}/index.m3u8",
            }
            for rung in rungs
        ]
        await lease.finish(
            VideoStatus.READY,
            thumbnail_key=thumbnail_key(vid),
            hls_master_key=prefix + "master.m3u8",
            renditions=renditions,
        )


async def _remove_outputs(storage: Storage, video_id: uuid.UUID) -> None:
    await storage.delete_prefix(hls_prefix(video_id))
    await storage.delete_prefix(thumbnail_key(video_id))


def _scaled_width(probe: ffmpeg.Probe, height: int) -> int:
    width = round(probe.width * height / probe.height)
    return width + width % 2  # scale=-2 rounds to an even width


async def _local_original(storage: Storage, key: str, work: Path) -> Path:
    """The original as a local file: read in place from local storage, else downloaded."""
    if isinstance(storage, LocalStorage):
        path = storage.path(key)
        if path.is_file():
            return path
    target = work / "original"
    try:
        await storage.fetch_file(key, target)
    except FileNotFoundError:
        raise ffmpeg.NotAVideo("The uploaded file is missing; upload it again.") from None
    return target


async def sweep_stale_processing(ctx: dict[str, Any]) -> int:
    """Re-queue videos whose run died (stale heartbeat) or whose job got lost (QUEUED too long).
    Periodic; safe to run anywhere and often: re-queues are guarded and job ids deterministic."""
    state: AppState = ctx["state"]
    now = utcnow()
    stale_seconds = state.settings.processing_stale_seconds
    stale_before = now - timedelta(seconds=stale_seconds)
    lost_before = now - timedelta(seconds=max(stale_seconds, QUEUED_LOST_SECONDS))
    async with state.unit_of_work() as uow:
        rows = await uow.session.scalars(
            select(Video)
            .where(
                Video.deleted_at.is_(None),
                Video.provider == VideoProvider.UPLOAD,
                or_(
                    (Video.status == VideoStatus.PROCESSING)
                    & (Video.processing_heartbeat_at < stale_before),
                    (Video.status == VideoStatus.QUEUED) & (Video.updated_at < lost_before),
                ),
            )
            .order_by(Video.updated_at)
            .limit(SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        )
        # A PROCESSING run is presumed dead; a later claim finishes or gives up (MAX_ATTEMPTS).
        due = [_hand_back(uow, video) for video in rows]
    for video_id, attempt in due:
        log.warning("re-queueing stale video processing", extra={"video_id": str(video_id)})
        await _enqueue_run(state, video_id, attempt)
    return len(due)


async def requeue_dead_runs(state: AppState, runs: Iterable[DeadRun]) -> int:
    """Hand back at once the videos whose run died with its worker on this machine (known from
    the work directories it left, see workdirs.py), where that run still holds the lease (same
    token, still PROCESSING); the sweeper would wait for the heartbeat to go stale."""
    tokens = {run.video_id: run.token for run in runs}
    if not tokens:
        return 0
    async with state.unit_of_work() as uow:
        rows = await uow.session.scalars(
            select(Video)
            .where(
                Video.id.in_(tokens),
                Video.deleted_at.is_(None),
                Video.status == VideoStatus.PROCESSING,
            )
            .with_for_update(skip_locked=True)
        )
        due = [
            _hand_back(uow, video)
            for video in rows
            if video.processing_attempts == tokens[video.id]
        ]
    for video_id, attempt in due:
        log.warning("re-queueing a dead worker's video", extra={"video_id": str(video_id)})
        await _enqueue_run(state, video_id, attempt)
    return len(due)


def _hand_back(uow: UnitOfWork, video: Video) -> tuple[uuid.UUID, int]:
    """Back to QUEUED (published after the commit); the caller enqueues the next run."""
    if video.status is VideoStatus.PROCESSING:
        video.status = VideoStatus.QUEUED
        video.processing_stage = None
    video.updated_at = utcnow()  # once per period, not on every sweep
    requeued = progress.processing_payload(video)
    uow.after_commit(functools.partial(progress.publish, uow.app, requeued))
    return video.id, video.processing_attempts


async def _enqueue_run(state: AppState, video_id: uuid.UUID, attempt: int) -> None:
    await state.jobs.enqueue(
        PROCESS_JOB,
        job_id=process_job_id(video_id, attempt),
        video_id=str(video_id),
        attempt=attempt,
    )


async def remove_video_files(ctx: dict[str, Any], video_id: str) -> str:
    """Delete every stored file of a deleted video (idempotent; a live video is left alone)."""
    state: AppState = ctx["state"]
    vid = uuid.UUID(video_id)
    async with state.sessionmaker() as session:
        video = await session.get(Video, vid)
    if video is not None and video.deleted_at is None:
        return "not deleted"
    await get_storage(state).delete_prefix(video_prefix(vid))
    return "removed"
