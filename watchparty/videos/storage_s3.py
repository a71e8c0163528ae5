"""S3-compatible storage (AWS S3, MinIO, Ceph...) through boto3, its calls run in threads.

boto3 is imported lazily: it is only needed with STORAGE_BACKEND=s3 (`pip install boto3`).
S3 objects cannot be appended to, so `write` stores each resumed piece of an upload as its own
object "<key>.parts/<offset>" (a multipart upload of PART_BYTES parts while it streams, so memory
stays bounded); `size`, `read` and `fetch_file` see the pieces, in order, as one file. Files put
whole (`put_file`: thumbnails, HLS output) are plain objects at their key.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchparty.videos.storage import (
    READ_CHUNK_BYTES,
    StorageLimitExceeded,
    StorageOffsetMismatch,
    check_key,
    copy_in_batches,
)

if TYPE_CHECKING:
    from watchparty.config import Settings

PART_BYTES = 8 * 1024 * 1024  # S3's minimum part is 5 MiB (except the last)


class S3Storage:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        boto3 = importlib.import_module("boto3")
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            region_name=settings.s3_region or None,
        )
        return cls(client, settings.s3_bucket)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, method), Bucket=self.bucket, **kwargs)

    async def _list(self, prefix: str) -> list[tuple[str, int]]:
        objects: list[tuple[str, int]] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call("list_objects_v2", Prefix=prefix, **extra)
            objects += [(o["Key"], int(o["Size"])) for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(objects)
            token = page["NextContinuationToken"]

    async def _pieces(self, key: str) -> list[tuple[str, int]]:
        """The objects making up `key`, in order: the plain object, else the upload pieces."""
        whole = [(k, s) for k, s in await self._list(check_key(key)) if k == key]
        return whole or await self._list(f"{key}.parts/")

    async def size(self, key: str) -> int | None:
        pieces = await self._pieces(key)
        return sum(s for _, s in pieces) if pieces else None

    async def write(
        self, key: str, chunks: AsyncIterator[bytes], *, offset: int = 0, limit: int | None = None
    ) -> int:
        current = await self.size(key)
        if offset != 0 and offset != current:
            raise StorageOffsetMismatch(current or 0)
        if offset == 0 and current is not None:
            await self.delete_prefix(key)
        piece = f"{check_key(key)}.parts/{offset:020d}"
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buffer = bytearray()

        async def flush_part() -> None:
            nonlocal upload_id
            if upload_id is None:
                upload_id = (await self._call("create_multipart_upload", Key=piece))["UploadId"]
            number = len(parts) + 1
            done = await self._call(
                "upload_part", Key=piece, UploadId=upload_id, PartNumber=number, Body=bytes(buffer)
            )
            parts.append({"PartNumber": number, "ETag": done["ETag"]})
            buffer.clear()

        rejected = False
        try:
            written = await copy_in_batches(
                chunks, buffer, flush_part, batch_bytes=PART_BYTES, written=offset, limit=limit
            )
        except StorageLimitExceeded:
            rejected = True
            if upload_id is not None:
                await self._call("abort_multipart_upload", Key=piece, UploadId=upload_id)
            raise
        finally:  # keep what arrived (also when the source failed) so the upload can resume
            if upload_id is None:
                if buffer and not rejected:
                    await self._call("put_object", Key=piece, Body=bytes(buffer))
            elif not rejected:
                if buffer:
                    await flush_part()
                await self._call(
                    "complete_multipart_upload",
                    Key=piece,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        return written

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        pieces = await self._pieces(key)
        if not pieces:
            raise FileNotFoundError(key)
        base = 0
        for name, size in pieces:
            lo, hi = max(start, base), size + base if end is None else min(end, size + base)
            if lo < hi:
                got = await self._call(
                    "get_object", Key=name, Range=f"bytes={lo - base}-{hi - base - 1}"
                )
                body = got["Body"]
                try:
                    while chunk := await asyncio.to_thread(body.read, READ_CHUNK_BYTES):
                        yield chunk
                finally:
                    body.close()
            base += size

    async def put_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(self.client.upload_file, str(path), self.bucket, check_key(key))

    async def fetch_file(self, key: str, path: Path) -> None:
        pieces = await self._pieces(key)
        if not pieces:
            raise FileNotFoundError(key)
        if len(pieces) == 1:
            await asyncio.to_thread(self.client.download_file, self.bucket, pieces[0][0], str(path))
            return
        with path.open("wb") as out:
            async for chunk in self.read(key):
                await asyncio.to_thread(out.write, chunk)

    async def delete_prefix(self, prefix: str) -> None:
        check_key(prefix.rstrip("/"))
        keys = [k for k, _ in await self._list(prefix)]
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            await self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})
