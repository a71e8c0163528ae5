"""Sample media made with ffmpeg's lavfi sources, and the upload flow through the public API.

ffmpeg is required: a missing binary fails the test (CI must say so loudly, never skip).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import Api


def require_ffmpeg() -> None:
    missing = [name for name in ("ffmpeg", "ffprobe") if shutil.which(name) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed: apt-get install -y ffmpeg")


async def make_sample(
    path: Path, *, seconds: float = 4, size: str = "320x240", audio: bool = True, rate: int = 25
) -> Path:
    """An H.264 (+ AAC) MP4 test pattern of `seconds` at `size`."""
    require_ffmpeg()
    command = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    command += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    command += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt"]
    command += ["yuv420p"]
    if audio:
        command += ["-c:a", "aac", "-shortest"]
    command.append(str(path))
    process = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return path


CREATE = """mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) {
  __typename ... on VideoUploadPayload { video { id status } uploadUrl
  uploadHeaders { name value } } ... on UserError { code message field } } }"""
COMPLETE = """mutation($input: VideoIdInput!) { completeVideoUpload(input: $input) {
  __typename ... on VideoPayload { video { id status } } ... on UserError { code message } } }"""
DELETE = """mutation($input: DeleteVideoInput!) { deleteVideo(input: $input) {
  __typename ... on UserError { code message } } }"""


async def upload(api: Api, token: str, data: bytes, *, filename: str = "sample.mp4") -> str:
    """createVideoUpload, PUT the bytes to the signed URL; returns the video id (UPLOADING)."""
    result = await api.gql(
        CREATE,
        {
            "input": {
                "title": "Sample",
                "filename": filename,
                "sizeBytes": len(data),
                "contentType": "video/mp4",
            }
        },
        token=token,
    )
    payload: dict[str, Any] = result.data["createVideoUpload"]
    assert payload["__typename"] == "VideoUploadPayload", payload
    headers = {h["name"]: h["value"] for h in payload["uploadHeaders"]}
    response = await api.client.put(
        urlsplit(payload["uploadUrl"]).path, content=data, headers=headers
    )
    assert response.status_code in (200, 201, 204), response.text
    video_id: str = payload["video"]["id"]
    return video_id


async def complete(api: Api, token: str, video_id: str) -> dict[str, Any]:
    result = await api.gql(COMPLETE, {"input": {"videoId": video_id}}, token=token)
    payload: dict[str, Any] = result.data["completeVideoUpload"]
    return payload
