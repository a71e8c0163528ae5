"""A worker killed mid-job: the video is not stuck in PROCESSING; a restarted worker finishes it.

Real `watchparty worker` subprocesses on PostgreSQL and a private redis-server. The first one is
killed with SIGKILL while it transcodes; its ffmpeg dies with it. Then either

- a worker starts on the same machine (the same temporary directory): it removes the dead one's
  work directory and re-queues its video at once (PROCESSING_STALE_SECONDS is 10 minutes here,
  so the sweeper cannot be what recovers it), or
- a worker starts on another machine: the heartbeat stops, and the stale sweeper (a cron job of
  that worker) re-queues the video under a new job id when it goes stale (2 s here).

Either way the new run cleans the partial output and produces the complete ladder: the same
files a clean run writes, nothing more.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.parties_ops import person
from tests.redis_server import RedisServer
from tests.support import RELAXED_LIMITS, Api, live_server, make_settings, running_app
from tests.test_videos_processing import VIDEO, stages, watch
from tests.video_samples import complete, make_sample, upload
from watchparty.videos import workdirs

WATCHPARTY = Path(sys.executable).parent / "watchparty"
SECONDS = 40  # long enough that ffmpeg, if it outlived its worker, would still be running


def process_state(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state letter, command name) of a running process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
    return None if state in ("Z", "X") else (int(ppid), state, name)


def ffmpeg_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = process_state(int(entry.name))
            if info is not None and info[0] == parent and info[2] == "ffmpeg":
                found.append(int(entry.name))
    return found


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(WATCHPARTY), "worker", env=self.env, stdout=sink, stderr=sink
            )

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup (a crashed or OOM-killed worker)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def api_without_worker(pg_url: str, tmp: Path) -> AsyncIterator[tuple[Api, dict[str, str]]]:
    redis = RedisServer()
    await redis.start()
    values: dict[str, Any] = {
        "redis_url": redis.url,
        "processing_heights": "240,144",
        "processing_stale_seconds": 2.0,
    }
    settings = make_settings("postgres", database_url=pg_url, tmp=tmp, **values)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis.url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "AUTO_MIGRATE": "false",
        "DATA_DIR": str(tmp),
        "MEDIA_DIR": str(settings.media_dir),
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "PROCESSING_HEIGHTS": "240,144",
        "PROCESSING_STALE_SECONDS": "2",
        "TMPDIR": str(tmp / "work"),  # where runs make their work directories
        **{key.upper(): value for key, value in RELAXED_LIMITS.items()},
    }
    (tmp / "work").mkdir()
    try:
        async with running_app(settings, worker=False) as api:
            yield api, env
    finally:
        await redis.stop()


@pytest.mark.parametrize("restart", ["same machine", "another machine"])
async def test_killed_worker_job_completes_after_restart(
    api_without_worker: tuple[Api, dict[str, str]], tmp: Path, restart: str
) -> None:
    api, env = api_without_worker
    owner = await person(api, "Owner")
    sample = await make_sample(tmp / "long.mp4", seconds=SECONDS, size="640x360")
    video_id = await upload(api, owner.token, sample.read_bytes())
    if restart == "same machine":
        env = {**env, "PROCESSING_STALE_SECONDS": "600"}
        env_2 = env
    else:
        env_2 = {**env, "TMPDIR": str(tmp / "work-2")}
        (tmp / "work-2").mkdir()
    first, second = Worker(env, tmp / "worker-1.log"), Worker(env_2, tmp / "worker-2.log")
    await first.start()
    killed: list[dict[str, Any]] = []
    orphans: dict[int, tuple[int, str, str] | None] = {}  # ffmpeg pid: its state after the kill
    left_behind: list[str] = []

    async def kill_while_transcoding(item: dict[str, Any]) -> bool:
        if item["status"] == "UPLOADING":
            await complete(api, owner.token, video_id)
            return False
        if item["stage"] != "TRANSCODING":
            return False
        for _ in range(100):  # the stage is published just before ffmpeg starts
            transcoding = ffmpeg_children(first.pid)
            if transcoding:
                break
            await asyncio.sleep(0.05)
        await first.kill()
        killed.append(item)
        await asyncio.sleep(0.5)  # SIGKILL is sent as the worker exits; give it a moment
        orphans.update((pid, process_state(pid)) for pid in transcoding)
        left_behind.extend(p.name for p in (tmp / "work").iterdir())
        await second.start()
        return True

    try:
        async with live_server(api.app) as base_url:
            items = await asyncio.wait_for(
                watch(base_url, owner.token, video_id, started=kill_while_transcoding), 90
            )
    finally:
        await first.kill()
        await second.stop()

    assert killed, "the worker was never seen transcoding"
    # ffmpeg died with its worker (it did not go on transcoding for nobody) ...
    assert len(orphans) == 1 and list(orphans.values()) == [None], orphans
    # ... its work directory was left behind, named after the worker, the video and the lease ...
    assert [name.split("-")[:3] for name in left_behind] == [["watchparty", "work", str(first.pid)]]
    assert workdirs.dead_run(Path(left_behind[0])) == workdirs.DeadRun(uuid.UUID(video_id), 1)
    second_log = (tmp / "worker-2.log").read_text()
    if restart == "same machine":
        # ... and removed by the next worker there when it started, which re-queued the video.
        assert sorted(p.name for p in (tmp / "work").iterdir()) == []
        assert "re-queueing a dead worker's video" in second_log
    else:
        # ... where no worker started since; the other machine's run cleaned up its own.
        assert sorted(p.name for p in (tmp / "work").iterdir()) == left_behind
        assert sorted(p.name for p in (tmp / "work-2").iterdir()) == []
        assert "re-queueing stale video processing" in second_log
    assert items[-1]["status"] == "READY", (items[-1], second_log)
    after_kill = items[items.index(killed[0]) + 1 :]
    # The run after the kill started over (PROBING) after the video was re-queued.
    assert "QUEUED" in [item["status"] for item in after_kill]
    assert stages(after_kill) == ["PROBING", "THUMBNAIL", "TRANSCODING", "FINALIZING"]

    video = (await api.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert (video["status"], round(video["durationSeconds"])) == ("READY", SECONDS)
    assert [r["height"] for r in video["renditions"]] == [144, 240]
    # Exactly the files the playlists name: nothing left over from the killed run.
    assert api.settings.media_dir is not None
    hls = api.settings.media_dir / "videos" / video_id / "hls"
    stored = sorted(p.relative_to(hls).as_posix() for p in hls.rglob("*") if p.is_file())
    named = ["master.m3u8"]
    for rendition in ("144p", "240p"):
        playlist = (hls / rendition / "index.m3u8").read_text()
        named.append(f"{rendition}/index.m3u8")
        named += [
            f"{rendition}/{line}"
            for line in playlist.splitlines()
            if line and not line.startswith("#")
        ]
    assert stored == sorted(named)
    assert len(named) == 1 + 2 * (1 + SECONDS // 4)  # in 4 s segments
    master = await api.client.get(urlsplit(video["hlsUrl"]).path)
    assert master.status_code == 200
