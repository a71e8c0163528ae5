"""Where video files live: a local directory by default, an S3-compatible bucket in production.

Keys are plain paths ("videos/<id>/original", "videos/<id>/hls/720p/index.m3u8"). Writes append:
`write(key, chunks, offset=n)` continues a file whose stored size is exactly `n` (0 starts it
over), so an interrupted upload resumes where the bytes stopped. A write that would pass `limit`
is rejected as a whole (the file is put back to `offset`); a write interrupted by its source
(client gone) keeps what arrived. Nothing is ever held in memory beyond one buffer.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from watchparty.config import Settings
    from watchparty.state import AppState

WRITE_BUFFER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024


class StorageError(Exception):
    """Base of the storage errors the callers handle."""


class StorageLimitExceeded(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class StorageOffsetMismatch(StorageError):
    """The write does not start where the stored bytes end."""

    def __init__(self, expected: int) -> None:
        super().__init__(f"the stored size is {expected}")
        self.expected = expected


class Storage(Protocol):
    async def write(
        self, key: str, chunks: AsyncIterator[bytes], *, offset: int = 0, limit: int | None = None
    ) -> int: ...

    async def size(self, key: str) -> int | None: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    async def put_file(self, key: str, path: Path) -> None: ...

    async def fetch_file(self, key: str, path: Path) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...


async def copy_in_batches(
    chunks: AsyncIterator[bytes],
    buffer: bytearray,
    flush: Callable[[], Awaitable[None]],
    *,
    batch_bytes: int,
    written: int,
    limit: int | None,
) -> int:
    """Read `chunks` into `buffer`, handing it to `flush` (which empties it) whenever it holds
    `batch_bytes`; returns the size counted from `written`. Going past `limit` raises
    StorageLimitExceeded. What is left in `buffer` (the tail, or what arrived before the source
    failed) is the caller's to keep or drop: every backend's `write` shares this loop."""
    async for chunk in chunks:
        written += len(chunk)
        if limit is not None and written > limit:
            raise StorageLimitExceeded(limit)
        buffer += chunk
        if len(buffer) >= batch_bytes:
            await flush()
    return written


def check_key(key: str) -> str:
    """Refuse keys that could leave the storage root ("..", absolute, empty parts)."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files under one root directory; blocking file calls run in threads."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def write(
        self, key: str, chunks: AsyncIterator[bytes], *, offset: int = 0, limit: int | None = None
    ) -> int:
        path = self.path(key)
        current = await self.size(key)
        if offset != 0 and offset != current:
            raise StorageOffsetMismatch(current or 0)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(open, path, "r+b" if current is not None else "w+b")
        buffer = bytearray()

        async def flush() -> None:
            await asyncio.to_thread(handle.write, bytes(buffer))
            buffer.clear()

        try:
            await asyncio.to_thread(handle.truncate, offset)
            await asyncio.to_thread(handle.seek, offset)
            try:
                return await copy_in_batches(
                    chunks,
                    buffer,
                    flush,
                    batch_bytes=WRITE_BUFFER_BYTES,
                    written=offset,
                    limit=limit,
                )
            except StorageLimitExceeded:
                buffer.clear()  # the whole request is refused: back to where it started
                await asyncio.to_thread(handle.truncate, offset)
                raise
            finally:  # also when the source failed: keep what arrived, so it can resume
                if buffer:
                    await flush()
        finally:
            await asyncio.to_thread(handle.close)

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(os.stat, self.path(key))).st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start` .. `end` (exclusive; None: to the end)."""
        handle = await asyncio.to_thread(open, self.path(key), "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                want = READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def put_file(self, key: str, path: Path) -> None:
        target = self.path(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(path, partial)
            partial.replace(target)  # readers never see half a file

        await asyncio.to_thread(copy)

    async def fetch_file(self, key: str, path: Path) -> None:
        source = self.path(key)
        if not await asyncio.to_thread(source.exists):
            raise FileNotFoundError(key)
        await asyncio.to_thread(shutil.copyfile, source, path)

    async def delete_prefix(self, prefix: str) -> None:
        target = self.root / check_key(prefix.rstrip("/"))

        def remove() -> None:
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)

        await asyncio.to_thread(remove)


def get_storage(state: AppState) -> Storage:
    """The process's storage, built once from the settings."""
    storage = state.extras.get("videos.storage")
    if storage is None:
        storage = storage_from_settings(state.settings)
        state.extras["videos.storage"] = storage
    return storage  # type: ignore[no-any-return]


def storage_from_settings(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        # A real cycle: storage_s3 builds on this module's checks and copy loop.
        from watchparty.videos.storage_s3 import S3Storage

        return S3Storage.from_settings(settings)
    assert settings.media_dir is not None  # derived from data_dir
    return LocalStorage(settings.media_dir)
