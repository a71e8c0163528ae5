"""ffprobe and ffmpeg for video processing: metadata, a thumbnail, an HLS ladder, progress.

Command builders and parsers are pure functions (tested alone); `run` executes one command with a
timeout, feeding `-progress pipe:1` output to a callback, and kills ffmpeg on timeout or
cancellation. The ladder is one ffmpeg process (one decode, `split` into every rendition) writing
`<height>p/index.m3u8` + `<height>p/seg_NNNNN.ts` and the master playlist `master.m3u8`.

On Linux a child is also killed when its worker dies without the chance to kill it (SIGKILL, out
of memory): it asks the kernel for SIGKILL on its parent's death (`prctl(PR_SET_PDEATHSIG)`).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import json
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEGMENT_SECONDS = 4
THUMBNAIL_WIDTH = 640
STDERR_TAIL_CHARS = 2000


class NotAVideo(Exception):
    """The input is not a playable video: a permanent failure with a reason for the owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FFmpegFailed(Exception):
    """ffmpeg or ffprobe exited with an error (possibly transient: out of memory, killed)."""

    def __init__(self, command: str, returncode: int | None, stderr: str) -> None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"{command} exited with {returncode}: {last}")
        self.returncode = returncode
        self.stderr = stderr


class FFmpegTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"ffmpeg took longer than {seconds:.0f} s")
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class Probe:
    duration_seconds: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    frame_rate: float | None
    bitrate_kbps: int | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True, slots=True)
class Rung:
    """One rendition of the ladder: output height and target bitrates."""

    height: int
    video_kbps: int
    audio_kbps: int

    @property
    def name(self) -> str:
        return f"{self.height}p"

    @property
    def bitrate_kbps(self) -> int:
        return self.video_kbps + self.audio_kbps


# Bitrates for 16:9 H.264 at ~30 fps (Apple's HLS authoring guidance, rounded).
LADDER: dict[int, Rung] = {
    r.height: r
    for r in (
        Rung(2160, 14000, 192),
        Rung(1440, 9000, 192),
        Rung(1080, 5000, 192),
        Rung(720, 2800, 128),
        Rung(480, 1400, 128),
        Rung(360, 800, 96),
        Rung(240, 400, 64),
        Rung(144, 200, 48),
    )
}


def _rung(height: int) -> Rung:
    if height in LADDER:
        return LADDER[height]
    # A height not in the table: scale the bitrate with the pixel count from the nearest above.
    above = min((h for h in LADDER if h >= height), default=max(LADDER))
    ratio = (height / above) ** 2
    base = LADDER[above]
    return Rung(height, max(100, round(base.video_kbps * ratio)), base.audio_kbps)


def ladder(source_height: int, heights: Iterable[int]) -> list[Rung]:
    """The configured heights up to the source's (never upscaled), tallest first. A source
    shorter than every configured height gets one rendition at its own (even) height."""
    wanted = sorted({h for h in heights if h > 0}, reverse=True)
    kept = [_rung(h) for h in wanted if h <= source_height]
    if not kept:
        kept = [_rung(max(2, source_height - source_height % 2))]
    return kept


def _fraction(value: Any) -> float | None:
    try:
        num, _, den = str(value).partition("/")
        result = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) and result > 0 else None


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) and result > 0 else None


def probe_command(ffprobe: str, path: Path) -> list[str]:
    return [
        ffprobe,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]


def parse_probe(data: dict[str, Any]) -> Probe:
    """Metadata from ffprobe's JSON; `NotAVideo` when there is nothing to play."""
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video"
        and not (s.get("disposition") or {}).get("attached_pic")  # cover art of an audio file
    ]
    if not videos:
        if any(s.get("codec_type") == "audio" for s in streams):
            raise NotAVideo("The file has sound but no picture: upload a video.")
        raise NotAVideo("The file has no video stream.")
    video = videos[0]
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise NotAVideo("The video stream has no picture size.")
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    frames = int(video.get("nb_frames") or 0)
    if duration is None or frames == 1 or fmt.get("format_name") in ("image2", "png_pipe"):
        raise NotAVideo("The file is a still image, not a video.")
    bit_rate = _float(fmt.get("bit_rate"))
    return Probe(
        duration_seconds=duration,
        width=width,
        height=height,
        video_codec=str(video.get("codec_name") or "unknown"),
        audio_codec=str(audio.get("codec_name") or "unknown") if audio else None,
        frame_rate=_fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate")),
        bitrate_kbps=round(bit_rate / 1000) if bit_rate else None,
    )


def thumbnail_command(ffmpeg: str, source: Path, target: Path, probe: Probe) -> list[str]:
    """One JPEG frame a tenth of the way in (past black intros), at most THUMBNAIL_WIDTH wide."""
    at = min(probe.duration_seconds * 0.1, 10.0)
    width = min(THUMBNAIL_WIDTH, probe.width - probe.width % 2)
    return [
        ffmpeg,
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-ss",
        f"{at:.3f}",
        "-i",
        str(source),
        "-frames:v",
        "1",
        "-vf",
        f"scale={width}:-2",
        "-q:v",
        "3",
        str(target),
    ]


def hls_command(
    ffmpeg: str, source: Path, out_dir: Path, rungs: Sequence[Rung], probe: Probe
) -> list[str]:
    """One ffmpeg run writing every rendition and the master playlist under `out_dir`."""
    count = len(rungs)
    split = f"[0:v:0]split={count}" + "".join(f"[s{i}]" for i in range(count))
    scales = [f"[s{i}]scale=-2:{r.height}[v{i}]" for i, r in enumerate(rungs)]
    command = [ffmpeg, "-v", "error", "-nostdin", "-nostats", "-y", "-i", str(source)]
    command += ["-progress", "pipe:1", "-filter_complex", ";".join([split, *scales])]
    for i in range(count):
        command += ["-map", f"[v{i}]"]
    if probe.has_audio:
        for _ in rungs:
            command += ["-map", "0:a:0"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    for i, rung in enumerate(rungs):
        command += [
            f"-b:v:{i}",
            f"{rung.video_kbps}k",
            f"-maxrate:v:{i}",
            f"{round(rung.video_kbps * 1.1)}k",
            f"-bufsize:v:{i}",
            f"{rung.video_kbps * 2}k",
        ]
    # Key frames on segment boundaries in every rendition, so players can switch between them.
    command += ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})"]
    command += ["-sc_threshold", "0"]
    if probe.has_audio:
        command += ["-c:a", "aac", "-ac", "2"]
        for i, rung in enumerate(rungs):
            command += [f"-b:a:{i}", f"{rung.audio_kbps}k"]
    streams = " ".join(
        f"v:{i},a:{i},name:{r.name}" if probe.has_audio else f"v:{i},name:{r.name}"
        for i, r in enumerate(rungs)
    )
    command += [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_filename",
        str(out_dir / "%v" / "seg_%05d.ts"),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        streams,
        str(out_dir / "%v" / "index.m3u8"),
    ]
    return command


def transcode_timeout_seconds(probe: Probe, rungs: Sequence[Rung], factor: float) -> float:
    """Wall time allowed for the ladder: `factor` seconds per second of 720p-equivalent output,
    plus a minute for start-up; sized from the input so a hung ffmpeg cannot hold a worker."""
    pixels = sum((r.height / 720) ** 2 for r in rungs)
    return 60.0 + probe.duration_seconds * factor * max(pixels, 0.25)


def parse_progress_line(line: str, duration_seconds: float) -> float | None:
    """The fraction done (0..1) from one `-progress` line, or None for other keys."""
    key, _, value = line.strip().partition("=")
    if key == "progress" and value == "end":
        return 1.0
    if key not in ("out_time_us", "out_time_ms") or duration_seconds <= 0:
        return None  # (out_time_ms is microseconds too, an old ffmpeg naming mistake)
    try:
        micros = int(value)
    except ValueError:
        return None  # "N/A" before the first frame
    return min(1.0, max(0.0, micros / 1_000_000 / duration_seconds))


ProgressCallback = Callable[[float], Awaitable[None]]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` making the child get SIGKILL when this process dies (Linux; None
    elsewhere). Resolved here, in the parent: the child between fork and exec only calls it."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


async def run(
    command: Sequence[str],
    *,
    time_limit: float,
    duration_seconds: float = 0.0,
    on_progress: ProgressCallback | None = None,
) -> str:
    """Run `command`; return its stdout. `FFmpegFailed` on a non-zero exit, `FFmpegTimeout`
    after `time_limit` seconds. ffmpeg is killed when the caller is cancelled or times out."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent(),
    )
    assert process.stdout is not None and process.stderr is not None
    stdout_lines: list[str] = []

    async def read_stdout() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            if on_progress is None:
                stdout_lines.append(line)
                continue
            fraction = parse_progress_line(line, duration_seconds)
            if fraction is not None:
                await on_progress(fraction)

    async def read_stderr() -> bytes:
        assert process.stderr is not None
        return await process.stderr.read()

    try:
        async with asyncio.timeout(time_limit):
            _, stderr, returncode = await asyncio.gather(
                read_stdout(), read_stderr(), process.wait()
            )
    except TimeoutError:
        raise FFmpegTimeout(time_limit) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if returncode != 0:
        name = Path(command[0]).name
        raise FFmpegFailed(name, returncode, stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:])
    return "".join(stdout_lines)


async def probe(ffprobe: str, path: Path, *, time_limit: float = 60.0) -> Probe:
    """`NotAVideo` for anything ffprobe cannot read as a video."""
    try:
        output = await run(probe_command(ffprobe, path), time_limit=time_limit)
    except FFmpegFailed as exc:
        last = exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else "unreadable"
        detail = last.split(": ", 1)[-1] if ": " in last else last
        raise NotAVideo(f"The file is not a video ffmpeg can read ({detail}).") from None
    try:
        data = json.loads(output or "{}")
    except json.JSONDecodeError:
        raise NotAVideo("The file is not a video ffmpeg can read.") from None
    return parse_probe(data)
