"""`PUT /uploads/{token}` and `HEAD /uploads/{token}`: the upload shim for library videos.

The token comes from `createVideoUpload` / `renewVideoUpload` (purpose "upload", subject the
video id). The body is streamed to storage chunk by chunk, never held in memory.

Resuming: `HEAD` answers `Upload-Offset` (bytes stored so far; also as `Content-Length`) and
`Upload-Length` (the declared size). A `PUT` continues from `Upload-Offset: n` or
`Content-Range: bytes n-m/total`, where n must equal the stored size (409 with the right
`Upload-Offset` otherwise); a `PUT` with neither header starts over. A connection that drops
keeps what arrived. Bytes past the declared size (or UPLOAD_MAX_BYTES) reject the whole request
with 413 and leave the stored bytes as they were. One `PUT` per video at a time (409).

Answers: 200 `{"videoId", "receivedBytes", "sizeBytes"}`; errors `{"error": {code, message}}`:
403 INVALID_TOKEN / TOKEN_EXPIRED, 404 NOT_FOUND (video deleted), 409 NOT_UPLOADING /
OFFSET_MISMATCH / UPLOAD_IN_PROGRESS, 413 TOO_LARGE, 400 BAD_RANGE, 503 SERVICE_UNAVAILABLE
(with Retry-After: Redis, which holds the one-PUT-per-video lock, is unavailable; nothing
was written). Redis failing during an upload does not stop it (the lock then expires by itself).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from watchparty.http.auth import NO_STORE, error_response
from watchparty.kit.redis_guard import UNAVAILABLE, retry_after_seconds
from watchparty.state import AppState
from watchparty.videos.models import Video, VideoStatus
from watchparty.videos.signing import ExpiredSignature, InvalidSignature, verify
from watchparty.videos.storage import (
    StorageLimitExceeded,
    StorageOffsetMismatch,
    get_storage,
)
from watchparty.videos.upload import UPLOAD_PURPOSE, record_received

_CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)$")
LOCK_TTL_SECONDS = 60  # refreshed while bytes flow; a dead process frees the video within it
log = logging.getLogger(__name__)

_local_locks: set[uuid.UUID] = set()


class BadRange(ValueError):
    pass


def requested_offset(request: Request, declared: int) -> int:
    """Where this PUT starts: `Upload-Offset`, else `Content-Range`, else 0 (start over)."""
    headers = request.headers
    if (raw := headers.get("upload-offset")) is not None:
        if not raw.strip().isdigit():
            raise BadRange("Upload-Offset must be a number of bytes.")
        return int(raw.strip())
    if (raw := headers.get("content-range")) is not None:
        match = _CONTENT_RANGE.match(raw.strip())
        if match is None:
            raise BadRange("Content-Range must look like 'bytes 0-999/5000'.")
        start, end, total = int(match[1]), int(match[2]), match[3]
        if end < start or (total != "*" and int(total) != declared):
            raise BadRange(f"Content-Range must lie within the declared {declared} bytes.")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) != end - start + 1:
            raise BadRange("Content-Range and Content-Length disagree.")
        return start
    return 0


async def _video(state: AppState, token: str) -> Video | Response:
    try:
        subject = verify(state.settings, UPLOAD_PURPOSE, token)
    except ExpiredSignature:
        return error_response(403, "TOKEN_EXPIRED", "This upload URL has expired; renew it.")
    except InvalidSignature:
        return error_response(403, "INVALID_TOKEN", "This is not a valid upload URL.")
    async with state.sessionmaker() as session:
        video = await session.get(Video, uuid.UUID(subject))
    if video is None or video.deleted_at is not None:
        return error_response(404, "NOT_FOUND", "No such video.")
    if video.status is not VideoStatus.UPLOADING or video.original_key is None:
        return error_response(409, "NOT_UPLOADING", "This video's upload is complete.")
    return video


@asynccontextmanager
async def _exclusive(state: AppState, video_id: uuid.UUID) -> AsyncIterator[_Lock | None]:
    """One PUT per video across processes (Redis) or in this process (embedded)."""
    if state.redis is None:
        if video_id in _local_locks:
            yield None
            return
        _local_locks.add(video_id)
        try:
            yield _Lock(state, "", "")
        finally:
            _local_locks.discard(video_id)
        return
    key = f"{state.settings.redis_key_prefix}videos:upload-lock:{video_id}"
    holder = secrets.token_hex(8)
    try:
        taken = await state.redis.set(key, holder, nx=True, ex=LOCK_TTL_SECONDS)
    except UNAVAILABLE as exc:  # no lock, no upload: nothing written, retry later
        raise _LockUnavailable(retry_after_seconds(exc)) from exc
    if not taken:
        yield None
        return
    try:
        yield _Lock(state, key, holder)
    finally:
        try:
            if await state.redis.get(key) == holder.encode():
                await state.redis.delete(key)
        except UNAVAILABLE:  # the lock expires by itself (LOCK_TTL_SECONDS)
            log.warning("upload lock not released: redis unavailable")


class _LockUnavailable(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("redis unavailable")
        self.retry_after = retry_after


class _Lock:
    def __init__(self, state: AppState, key: str, holder: str) -> None:
        self.state, self.key, self.holder = state, key, holder
        self.refreshed = time.monotonic()

    async def keep(self) -> None:
        if self.state.redis is None or time.monotonic() - self.refreshed < LOCK_TTL_SECONDS / 3:
            return
        self.refreshed = time.monotonic()
        try:
            await self.state.redis.set(self.key, self.holder, ex=LOCK_TTL_SECONDS)
        except UNAVAILABLE:  # keep the bytes flowing; the storage offset check still holds
            log.warning("upload lock not refreshed: redis unavailable")


async def _body(request: Request, lock: _Lock) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            await lock.keep()
            yield chunk


def _offset_headers(offset: int, declared: int) -> dict[str, str]:
    return {"Upload-Offset": str(offset), "Upload-Length": str(declared)}


async def upload(request: Request) -> Response:
    state: AppState = request.app.state.wp
    found = await _video(state, request.path_params["token"])
    if isinstance(found, Response):
        return found
    video, storage = found, get_storage(state)
    assert video.original_key is not None and video.size_bytes is not None
    declared = video.size_bytes
    if request.method == "HEAD":
        stored = await storage.size(video.original_key) or 0
        headers = {**NO_STORE, **_offset_headers(stored, declared), "Content-Length": str(stored)}
        return Response(status_code=200, headers=headers)
    try:
        offset = requested_offset(request, declared)
    except BadRange as exc:
        return error_response(400, "BAD_RANGE", str(exc))
    limit = min(declared, state.settings.upload_max_bytes)
    length = request.headers.get("content-length", "")
    if offset > limit or (length.isdigit() and offset + int(length) > limit):
        return error_response(413, "TOO_LARGE", f"The file is declared as {declared} bytes.")
    try:
        return await _write(request, state, video, storage, offset, limit, declared)
    except _LockUnavailable as exc:
        message = "Uploads are unavailable for a moment. Retry from HEAD's offset."
        headers = {"Retry-After": str(exc.retry_after)}
        return error_response(503, "SERVICE_UNAVAILABLE", message, headers)


async def _write(
    request: Request,
    state: AppState,
    video: Video,
    storage: Any,
    offset: int,
    limit: int,
    declared: int,
) -> Response:
    assert video.original_key is not None
    async with _exclusive(state, video.id) as lock:
        if lock is None:
            return error_response(409, "UPLOAD_IN_PROGRESS", "Another upload is in progress.")
        try:
            received = await storage.write(
                video.original_key, _body(request, lock), offset=offset, limit=limit
            )
        except StorageOffsetMismatch as exc:
            message = f"The upload continues at byte {exc.expected}."
            headers = _offset_headers(exc.expected, declared)
            return error_response(409, "OFFSET_MISMATCH", message, headers)
        except StorageLimitExceeded:
            headers = _offset_headers(offset, declared)
            message = f"More bytes than the declared {declared}."
            return error_response(413, "TOO_LARGE", message, headers)
        except ClientDisconnect:  # what arrived is kept: the client resumes from HEAD's offset
            received = await storage.size(video.original_key) or 0
            async with state.unit_of_work() as uow:
                await record_received(uow, video.id, received)
            return Response(status_code=400)
    async with state.unit_of_work() as uow:
        await record_received(uow, video.id, received)
    body = {"videoId": str(video.id), "receivedBytes": received, "sizeBytes": declared}
    return JSONResponse(body, headers={**NO_STORE, **_offset_headers(received, declared)})


routes = [Route("/uploads/{token}", upload, methods=["PUT", "HEAD"])]
