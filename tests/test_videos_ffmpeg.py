"""`watchparty.videos.ffmpeg`: parsers and command builders alone, then against real ffmpeg."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.video_samples import make_sample, require_ffmpeg
from watchparty.videos import ffmpeg
from watchparty.videos.ffmpeg import NotAVideo, Probe, Rung


def probe_json(**format_: Any) -> dict[str, Any]:
    return {
        "streams": [
            {
                "codec_type": "video",
                "codec_name": "h264",
                "width": 1920,
                "height": 1080,
                "avg_frame_rate": "30000/1001",
                "r_frame_rate": "30000/1001",
                "nb_frames": "3596",
            },
            {"codec_type": "audio", "codec_name": "aac"},
        ],
        "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "120.0", **format_},
    }


def test_parse_probe_reads_the_metadata() -> None:
    assert ffmpeg.parse_probe(probe_json(bit_rate="5012345")) == Probe(
        duration_seconds=120.0,
        width=1920,
        height=1080,
        video_codec="h264",
        audio_codec="aac",
        frame_rate=pytest.approx(29.97003, abs=1e-5),  # type: ignore[arg-type]
        bitrate_kbps=5012,
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"streams": [], "format": {}}, "The file has no video stream."),
        (
            {"streams": [{"codec_type": "audio", "codec_name": "mp3"}], "format": {}},
            "The file has sound but no picture: upload a video.",
        ),
        (
            {  # an MP3 with cover art: the picture is an attached still, not a video
                "streams": [
                    {"codec_type": "audio", "codec_name": "mp3"},
                    {
                        "codec_type": "video",
                        "codec_name": "mjpeg",
                        "width": 500,
                        "height": 500,
                        "disposition": {"attached_pic": 1},
                    },
                ],
                "format": {"duration": "200.0"},
            },
            "The file has sound but no picture: upload a video.",
        ),
        (
            {
                "streams": [{"codec_type": "video", "codec_name": "png", "width": 8, "height": 8}],
                "format": {"format_name": "png_pipe"},
            },
            "The file is a still image, not a video.",
        ),
        (
            {
                "streams": [{"codec_type": "video", "codec_name": "h264", "width": 0}],
                "format": {"duration": "3"},
            },
            "The video stream has no picture size.",
        ),
    ],
)
def test_parse_probe_refuses_what_is_not_a_video(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(NotAVideo) as raised:
        ffmpeg.parse_probe(data)
    assert raised.value.reason == reason


def test_ladder_never_upscales() -> None:
    heights = [1080, 720, 480, 360]
    assert [r.height for r in ffmpeg.ladder(1080, heights)] == [1080, 720, 480, 360]
    assert [r.height for r in ffmpeg.ladder(800, heights)] == [720, 480, 360]
    assert ffmpeg.ladder(720, [720]) == [Rung(720, 2800, 128)]
    # Smaller than every configured height: one rendition at the source's own (even) height.
    assert [r.height for r in ffmpeg.ladder(201, heights)] == [200]
    assert ffmpeg.ladder(200, [200])[0] == Rung(200, 278, 64)  # 400 kbps * (200 / 240)²


def test_progress_lines() -> None:
    assert ffmpeg.parse_progress_line("out_time_us=2000000\n", 8.0) == 0.25
    assert ffmpeg.parse_progress_line("out_time_ms=8000000", 4.0) == 1.0  # clamped
    assert ffmpeg.parse_progress_line("out_time_us=N/A", 4.0) is None
    assert ffmpeg.parse_progress_line("progress=end", 4.0) == 1.0
    assert ffmpeg.parse_progress_line("progress=continue", 4.0) is None
    assert ffmpeg.parse_progress_line("frame=10", 4.0) is None


def test_transcode_timeout_grows_with_duration_and_ladder() -> None:
    short = Probe(10.0, 1280, 720, "h264", None, 30.0, None)
    long = Probe(3600.0, 1280, 720, "h264", None, 30.0, None)
    ladder = ffmpeg.ladder(720, [720, 360])
    assert ffmpeg.transcode_timeout_seconds(short, ladder, 4.0) == 60 + 10 * 4 * 1.25
    assert ffmpeg.transcode_timeout_seconds(long, ladder, 4.0) == 60 + 3600 * 4 * 1.25


def test_hls_command_maps_audio_only_when_present() -> None:
    with_audio = Probe(4.0, 320, 240, "h264", "aac", 25.0, None)
    rungs = ffmpeg.ladder(240, [240, 144])
    command = ffmpeg.hls_command("ffmpeg", Path("in.mp4"), Path("out"), rungs, with_audio)
    assert command[command.index("-var_stream_map") + 1] == "v:0,a:0,name:240p v:1,a:1,name:144p"
    silent = Probe(4.0, 320, 240, "h264", None, 25.0, None)
    command = ffmpeg.hls_command("ffmpeg", Path("in.mp4"), Path("out"), rungs, silent)
    assert command[command.index("-var_stream_map") + 1] == "v:0,name:240p v:1,name:144p"
    assert "0:a:0" not in command


# -- real ffmpeg --------------------------------------------------------------------------------


async def test_probe_a_real_sample(tmp: Path) -> None:
    sample = await make_sample(tmp / "s.mp4", seconds=2, size="320x180")
    probe = await ffmpeg.probe("ffprobe", sample)
    assert (probe.width, probe.height, probe.video_codec, probe.audio_codec) == (
        320,
        180,
        "h264",
        "aac",
    )
    assert (round(probe.duration_seconds, 1), probe.frame_rate) == (2.0, 25.0)


async def test_probe_refuses_junk_and_images(tmp: Path) -> None:
    require_ffmpeg()
    junk = tmp / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(NotAVideo) as raised:
        await ffmpeg.probe("ffprobe", junk)
    assert raised.value.reason == (
        "The file is not a video ffmpeg can read (Invalid data found when processing input)."
    )
    image = tmp / "still.jpg"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64",
        "-frames:v", "1", str(image),
    )  # fmt: skip
    assert await process.wait() == 0
    with pytest.raises(NotAVideo) as raised:
        await ffmpeg.probe("ffprobe", image)
    assert raised.value.reason == "The file is a still image, not a video."


async def test_ladder_run_reports_progress_and_writes_playlists(tmp: Path) -> None:
    sample = await make_sample(tmp / "s.mp4", seconds=3, size="320x240", audio=False)
    probe = await ffmpeg.probe("ffprobe", sample)
    rungs = ffmpeg.ladder(probe.height, [240, 144])
    out = tmp / "hls"
    for rung in rungs:
        (out / rung.name).mkdir(parents=True)
    seen: list[float] = []

    async def on_progress(fraction: float) -> None:
        seen.append(fraction)

    await ffmpeg.run(
        ffmpeg.hls_command("ffmpeg", sample, out, rungs, probe),
        time_limit=120,
        duration_seconds=probe.duration_seconds,
        on_progress=on_progress,
    )
    assert seen[-1] == 1.0 and seen == sorted(seen)
    master = (out / "master.m3u8").read_text()
    assert [line for line in master.splitlines() if line.endswith(".m3u8")] == [
        "240p/index.m3u8",
        "144p/index.m3u8",
    ]
    assert sorted(p.name for p in (out / "144p").iterdir()) == ["index.m3u8", "seg_00000.ts"]


async def test_run_kills_ffmpeg_at_the_time_limit(tmp: Path) -> None:
    require_ffmpeg()
    command = ["ffmpeg", "-v", "error", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2"]
    command += ["-f", "null", "-"]  # -re: real time, endless: only the limit stops it
    with pytest.raises(ffmpeg.FFmpegTimeout):
        await ffmpeg.run(command, time_limit=0.5)


async def test_run_reports_ffmpeg_errors(tmp: Path) -> None:
    require_ffmpeg()
    with pytest.raises(ffmpeg.FFmpegFailed) as raised:
        await ffmpeg.run(["ffprobe", "-v", "error", str(tmp / "missing.mp4")], time_limit=30)
    assert raised.value.returncode == 1
    assert str(raised.value).endswith("No such file or directory")
