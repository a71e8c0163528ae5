"""Upload to READY with the real ARQ worker on real Redis and PostgreSQL, through the public API.

A stack of our own (a private redis-server, so the ladder can be small and no other test's
worker takes our jobs): upload a lavfi sample through the signed URL, complete, watch
`videoProcessing` over WebSocket until READY, then fetch the master playlist, a variant playlist
and a segment through the signed URLs. A file that is not a video ends FAILED with a reason; a
delete in the middle stops the job and removes every file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from arq.jobs import Job

from tests.parties_ops import person
from tests.redis_server import RedisServer
from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from tests.video_samples import DELETE, complete, make_sample, require_ffmpeg, upload
from watchparty.jobs import ArqJobQueue, job_deserializer, queue_name

SUBSCRIBE = """subscription($id: ID!) { videoProcessing(videoId: $id) {
  status stage progress error startedAt finishedAt } }"""
VIDEO = """query($id: ID!) { video(id: $id) { status durationSeconds width height
  processing { status stage progress error }
  renditions { height bitrateKbps url } hlsUrl thumbnailUrl } }"""


@pytest.fixture(scope="module")
async def stack(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    require_ffmpeg()
    redis = RedisServer()
    await redis.start()
    tmp = tmp_path_factory.mktemp("processing")
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp,
        redis_url=redis.url,
        processing_heights="240,144",
    )
    try:
        async with running_app(settings) as api:
            yield api
    finally:
        await redis.stop()


@pytest.fixture(scope="module")
async def base_url(stack: Api) -> AsyncIterator[str]:
    async with live_server(stack.app) as url:
        yield url


@pytest.fixture(scope="module")
async def sample(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = await make_sample(tmp_path_factory.mktemp("sample") / "sample.mp4")
    return path.read_bytes()


async def watch(base_url: str, token: str, video_id: str, **until: Any) -> list[dict[str, Any]]:
    """Every `videoProcessing` item until the stream completes (or `until` callback says so)."""
    items: list[dict[str, Any]] = []
    async with graphql_socket(base_url) as socket:
        assert (await socket.init({"authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        op = await socket.subscribe(SUBSCRIBE, {"id": video_id})
        started = until.get("started")
        while True:
            message = await socket.receive(timeout=60)
            if message.get("id") != op:
                continue
            if message["type"] == "complete":
                return items
            assert message["type"] == "next", message
            items.append(message["payload"]["data"]["videoProcessing"])
            if started is not None and await started(items[-1]):
                started = None
            if "stop" in until and until["stop"](items[-1]):
                return items


def stages(items: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item["stage"] and item["stage"] not in seen:
            seen.append(item["stage"])
    return seen


async def test_upload_processes_to_ready_and_streams(
    stack: Api, base_url: str, sample: bytes
) -> None:
    owner = await person(stack, "Owner")
    video_id = await upload(stack, owner.token, sample)

    async def on_first(item: dict[str, Any]) -> bool:
        assert item["status"] == "UPLOADING"
        payload = await complete(stack, owner.token, video_id)
        assert payload["video"]["status"] == "QUEUED", payload
        return True

    items = await watch(base_url, owner.token, video_id, started=on_first)

    assert items[0] == {
        "status": "UPLOADING",
        "stage": None,
        "progress": 0.0,
        "error": None,
        "startedAt": None,
        "finishedAt": None,
    }
    assert stages(items) == ["PROBING", "THUMBNAIL", "TRANSCODING", "FINALIZING"]
    progress = [item["progress"] for item in items]
    assert progress == sorted(progress)
    assert 0.05 < max(p for p in progress if p < 1.0) <= 0.95  # transcoding progress arrived
    last = items[-1]
    assert (last["status"], last["stage"], last["progress"], last["error"]) == (
        "READY",
        None,
        1.0,
        None,
    )
    assert last["startedAt"] is not None and last["finishedAt"] is not None

    video = (await stack.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert video["status"] == "READY"
    assert round(video["durationSeconds"], 1) == 4.0
    assert (video["width"], video["height"]) == (320, 240)
    assert video["processing"] == {"status": "READY", "stage": None, "progress": 1.0, "error": None}
    assert [(r["height"], r["bitrateKbps"]) for r in video["renditions"]] == [
        (144, 248),
        (240, 464),
    ]

    master = await stack.client.get(urlsplit(video["hlsUrl"]).path)
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    lines = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 2 and "RESOLUTION=320x240" in master.text
    variant = await stack.client.get(urlsplit(video["renditions"][0]["url"]).path)
    assert variant.status_code == 200 and "#EXT-X-ENDLIST" in variant.text
    segment_name = next(
        line for line in variant.text.splitlines() if line and not line.startswith("#")
    )
    variant_path = urlsplit(video["renditions"][0]["url"]).path
    segment_url = variant_path.rsplit("/", 1)[0] + "/" + segment_name
    if segment_name.startswith(("http://", "https://", "/")):
        segment_url = urlsplit(segment_name).path
    segment = await stack.client.get(segment_url)
    assert segment.status_code == 200
    assert segment.headers["content-type"] == "video/mp2t"
    assert segment.content[:1] == b"\x47"  # MPEG-TS sync byte
    thumb = await stack.client.get(urlsplit(video["thumbnailUrl"]).path)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"


async def test_not_a_video_fails_with_a_reason(stack: Api, base_url: str, tmp: Path) -> None:
    owner = await person(stack, "Owner")
    video_id = await upload(stack, owner.token, os.urandom(20_000), filename="holiday.mp4")
    assert (await complete(stack, owner.token, video_id))["video"]["status"] == "QUEUED"
    items = await watch(base_url, owner.token, video_id)
    assert items[-1]["status"] == "FAILED"
    assert items[-1]["error"] == (
        "The file is not a video ffmpeg can read (Invalid data found when processing input)."
    )
    video = (await stack.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert video["processing"]["error"] == items[-1]["error"]
    assert (video["hlsUrl"], video["renditions"]) == (None, [])


async def test_audio_only_file_fails_with_a_reason(stack: Api, base_url: str, tmp: Path) -> None:
    owner = await person(stack, "Owner")
    path = tmp / "song.m4a"
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=44100", "-t", "2", "-c:a", "aac", str(path),
    )  # fmt: skip
    assert await process.wait() == 0
    video_id = await upload(stack, owner.token, path.read_bytes(), filename="song.mp4")
    await complete(stack, owner.token, video_id)
    items = await watch(base_url, owner.token, video_id)
    assert (items[-1]["status"], items[-1]["error"]) == (
        "FAILED",
        "The file has sound but no picture: upload a video.",
    )


async def test_delete_during_processing_stops_and_removes_files(
    stack: Api, base_url: str, tmp: Path
) -> None:
    owner = await person(stack, "Owner")
    long = await make_sample(tmp / "long.mp4", seconds=40, size="640x360")
    video_id = await upload(stack, owner.token, long.read_bytes())
    await complete(stack, owner.token, video_id)

    async def delete_when_transcoding(item: dict[str, Any]) -> bool:
        if item["stage"] != "TRANSCODING":
            return False
        result = await stack.gql(DELETE, {"input": {"id": video_id}}, token=owner.token)
        assert result.data["deleteVideo"]["__typename"] == "DeleteVideoPayload"
        return True

    items = await watch(base_url, owner.token, video_id, started=delete_when_transcoding)
    assert items[-1]["status"] == "PROCESSING"  # the stream ended with the video, not READY
    media = stack.settings.media_dir
    assert media is not None
    folder = media / "videos" / video_id
    for _ in range(200):  # the job notices at its next heartbeat, then removes what it wrote
        if not folder.exists() and not any(video_id in t.name for t in _temp_dirs()):
            break
        await asyncio.sleep(0.1)
    assert not folder.exists()
    video = (await stack.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert video is None


def _temp_dirs() -> list[Path]:
    import tempfile

    return list(Path(tempfile.gettempdir()).glob("watchparty-*"))


async def test_only_the_owner_may_watch_processing(
    stack: Api, base_url: str, sample: bytes
) -> None:
    owner = await person(stack, "Owner")
    stranger = await person(stack, "Stranger")
    video_id = await upload(stack, owner.token, sample)
    async with graphql_socket(base_url) as socket:
        assert (await socket.init({"authorization": f"Bearer {stranger.token}"}))[
            "type"
        ] == "connection_ack"
        messages = await socket.execute(SUBSCRIBE, {"id": video_id})
        assert messages[0]["type"] == "next"
        assert messages[0]["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        messages = await socket.execute(SUBSCRIBE, {"id": "not-an-id"})
        assert messages[0]["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    async with graphql_socket(base_url) as socket:
        assert (await socket.init())["type"] == "connection_ack"
        messages = await socket.execute(SUBSCRIBE, {"id": video_id})
        assert messages[0]["payload"]["errors"][0]["extensions"]["code"] == "NOT_AUTHENTICATED"


async def test_repeated_job_changes_nothing(stack: Api, base_url: str, sample: bytes) -> None:
    owner = await person(stack, "Owner")
    video_id = await upload(stack, owner.token, sample)
    await complete(stack, owner.token, video_id)
    assert (await watch(base_url, owner.token, video_id))[-1]["status"] == "READY"
    before = (await stack.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert stack.settings.media_dir is not None
    folder = stack.settings.media_dir / "videos" / video_id
    files = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}

    jobs = stack.state.jobs
    assert isinstance(jobs, ArqJobQueue)
    # The id completeVideoUpload used: ARQ keeps its result, so this enqueue is ignored.
    assert not await jobs.enqueue(
        "process_video", job_id=f"process_video:{video_id}:0", video_id=video_id
    )
    # A duplicate under another id runs, sees the video READY and leaves it alone.
    assert await jobs.enqueue(
        "process_video", job_id=f"process_video:{video_id}:dup", video_id=video_id
    )
    job = Job(
        jobs.arq_job_id(f"process_video:{video_id}:dup"),
        jobs.pool,
        _queue_name=queue_name(stack.settings),
        _deserializer=job_deserializer,
    )
    assert await job.result(timeout=30) == "status READY"

    after = (await stack.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert {k: v for k, v in after.items() if not k.endswith("Url")} == {
        k: v for k, v in before.items() if not k.endswith("Url")
    }
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == files


async def test_transient_failure_is_retried_with_a_note(
    pg_url: str, tmp: Path, sample: bytes
) -> None:
    redis = RedisServer()
    await redis.start()
    settings = make_settings(
        "postgres", database_url=pg_url, tmp=tmp, redis_url=redis.url,
        ffmpeg_path=str(tmp / "no-such-dir" / "ffmpeg"),
    )  # fmt: skip
    try:
        async with running_app(settings) as api, live_server(api.app) as url:
            owner = await person(api, "Owner")
            video_id = await upload(api, owner.token, sample)
            await complete(api, owner.token, video_id)

            def requeued(item: dict[str, Any]) -> bool:
                return item["status"] == "QUEUED" and item["error"] is not None

            items = await watch(url, owner.token, video_id, stop=requeued)
    finally:
        await redis.stop()
    assert [i["status"] for i in items if i["status"] != "QUEUED"][:1] == ["PROCESSING"]
    assert items[-1]["error"] == (
        "Attempt 1 of 4 failed (ffmpeg is not installed on the worker); retrying in 5 s."
    )


async def test_embedded_stack_processes_in_process(api_embedded: Api, sample: bytes) -> None:
    """SQLite + in-process jobs: the same job, default ladder (a 240p source gets one rung)."""
    owner = await person(api_embedded, "Owner")
    video_id = await upload(api_embedded, owner.token, sample)
    assert (await complete(api_embedded, owner.token, video_id))["video"]["status"] == "QUEUED"
    await api_embedded.drain_jobs()
    video = (await api_embedded.gql(VIDEO, {"id": video_id}, token=owner.token)).data["video"]
    assert video["processing"] == {"status": "READY", "stage": None, "progress": 1.0, "error": None}
    assert [(r["height"], r["bitrateKbps"]) for r in video["renditions"]] == [(240, 464)]
