"""Processing overhead: our `process_video` job against the same ffmpeg commands run bare.

Makes a test-pattern sample with ffmpeg (lavfi: H.264 + AAC), then alternates, `--runs` times:

- bare: ffprobe, the thumbnail and the HLS ladder commands that `watchparty.videos.ffmpeg` builds,
  run one after the other by a plain subprocess call, output to a scratch directory;
- job: `process_video` itself on the embedded stack (SQLite, local storage, in-memory broadcast):
  claim, probe, thumbnail, ladder with progress parsing and publishing, heartbeats, storing the
  outputs, the final guarded write. The original sits in local storage (read in place).

Prints the median wall time of each and our overhead (target: under 10 %). Everything lives in a
temporary directory removed at the end.

    .venv/bin/python bench/processing.py                         # 60 s of 1280x720, ~2 min
    .venv/bin/python bench/processing.py --seconds 20 --size 640x360 --heights 360,240 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from watchparty.config import Settings
from watchparty.videos import ffmpeg
from watchparty.videos.tasks import ladder_heights


def make_sample(path: Path, seconds: int, size: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def bare(sample: Path, work: Path, heights: list[int]) -> float:
    """The same three commands, nothing else."""
    out = work / "bare"
    started = time.perf_counter()
    probed = subprocess.run(
        ffmpeg.probe_command("ffprobe", sample), check=True, capture_output=True
    ).stdout
    probe = ffmpeg.parse_probe(json.loads(probed))
    rungs = ffmpeg.ladder(probe.height, heights)
    for rung in rungs:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ffmpeg.thumbnail_command("ffmpeg", sample, work / "thumb.jpg", probe), check=True
    )
    subprocess.run(
        ffmpeg.hls_command("ffmpeg", sample, out, rungs, probe),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


async def job(settings: Settings, sample: Path) -> float:
    """`process_video` on a freshly uploaded video row; returns its wall time."""
    from watchparty.accounts.models import User
    from watchparty.state import build_state
    from watchparty.videos.models import Video, VideoStatus, original_key
    from watchparty.videos.storage import get_storage
    from watchparty.videos.tasks import process_video

    async with build_state(settings) as state:
        video_id = uuid.uuid4()
        async with state.unit_of_work() as uow:
            user = User(email=f"bench-{video_id.hex}@example.com", display_name="Bench")
            uow.session.add(user)
            await uow.session.flush()
            uow.session.add(
                Video(
                    id=video_id,
                    owner_id=user.id,
                    title="Bench",
                    status=VideoStatus.QUEUED,
                    original_key=original_key(video_id),
                    size_bytes=sample.stat().st_size,
                )
            )
        await get_storage(state).put_file(original_key(video_id), sample)
        started = time.perf_counter()
        result = await process_video({"state": state, "job_try": 1}, str(video_id))
        elapsed = time.perf_counter() - started
        if result != "ready":
            raise SystemExit(f"process_video returned {result!r}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="sample length")
    parser.add_argument("--size", default="1280x720", help="sample resolution")
    parser.add_argument("--heights", default="720,480,360", help="the ladder")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    heights = ladder_heights(args.heights)
    with tempfile.TemporaryDirectory(prefix="watchparty-bench-") as raw:
        work = Path(raw)
        sample = work / "sample.mp4"
        make_sample(sample, args.seconds, args.size)
        settings = Settings(
            app_env="development",
            data_dir=work / "data",
            redis_url="",
            broadcast_url="memory://",
            database_url=f"sqlite+aiosqlite:///{work / 'bench.db'}",
            auto_migrate=True,
            processing_heights=args.heights,
            log_level="WARNING",
        )
        bare_times, job_times = [], []
        for _ in range(args.runs):  # alternate so both see the same machine conditions
            bare_times.append(bare(sample, work, heights))
            job_times.append(asyncio.run(job(settings, sample)))
        b, j = statistics.median(bare_times), statistics.median(job_times)
        print(f"sample: {args.seconds} s of {args.size} H.264+AAC, ladder {args.heights}")
        print(f"bare ffmpeg commands : median {b:6.2f} s  runs {_fmt(bare_times)}")
        print(f"process_video job    : median {j:6.2f} s  runs {_fmt(job_times)}")
        print(f"overhead             : {100 * (j - b) / b:+.1f} % ({j - b:+.2f} s)")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
