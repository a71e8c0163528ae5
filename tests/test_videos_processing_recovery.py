"""A worker killed mid-job: the video is not stuck in PROCESSING; a restarted worker finishes it.

Real `watchparty worker` subprocesses on PostgreSQL and a private redis-server. The first one is
killed with SIGKILL while it transcodes; its heartbeat stops, the stale sweeper (a cron job of the
worker started next) re-queues the video under a new job id, and the new run cleans the partial
output and produces the complete ladder: the same files a clean run writes, nothing more.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.parties_ops import person
from tests.support import RELAXED_LIMITS, Api, live_server, make_settings, running_app
from tests.test_realtime_redis import RedisServer
from tests.test_videos_processing import VIDEO, stages, watch
from tests.video_samples import complete, make_sample, upload

WATCHPARTY = Path(sys.executable).parent / "watchparty"


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

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
        **{key.upper(): value for key, value in RELAXED_LIMITS.items()},
    }
    try:
        async with running_app(settings, worker=False) as api:
            yield api, env
    finally:
        await redis.stop()


async def test_killed_worker_job_completes_after_restart(
    api_without_worker: tuple[Api, dict[str, str]], tmp: Path
) -> None:
    api, env = api_without_worker
    owner = await person(api, "Owner")
    sample = await make_sample(tmp / "long.mp4", seconds=24, size="640x360")
    video_id = await upload(api, owner.token, sample.read_bytes())
    first, second = Worker(env, tmp / "worker-1.log"), Worker(env, tmp / "worker-2.log")
    await first.start()
    killed: list[dict[str, Any]] = []

    async def kill_while_transcoding(item: dict[str, Any]) -> bool:
        if item["status"] == "UPLOADING":
            await complete(api, owner.token, video_id)
            return False
        if item["stage"] != "TRANSCODING":
            return False
        await first.kill()
        killed.append(item)
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
    assert items[-1]["status"] == "READY", (items[-1], (tmp / "worker-2.log").read_text())
    after_kill = items[items.index(killed[0]) + 1 :]
    # The run after the kill started over (PROBING) after the sweeper re-queued the video.
    assert "QUEUED" in [item["status"] for item in after_kill]
    assert stages(after_kill) == ["PROBING", "THUMBNAIL", "TRANSCODING", "FINALIZING"]

    video = (await api.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert (video["status"], round(video["durationSeconds"])) == ("READY", 24)
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
    assert len(named) == 1 + 2 * (1 + 6)  # 24 s in 4 s segments
    master = await api.client.get(urlsplit(video["hlsUrl"]).path)
    assert master.status_code == 200
