"""The S3-compatible storage against a local S3 server (moto), directly and through the shim.

Needs `boto3` and `moto[server]` (dev dependencies; the server's `s3` extra is boto3 alone): a
missing package fails the run rather than skipping it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from moto import server as moto_server

from tests.parties_ops import person
from tests.support import free_port, make_settings, running_app
from tests.videos_ops import start_upload, upload_path, video_mutate
from watchparty.videos.models import original_key
from watchparty.videos.storage import StorageLimitExceeded, StorageOffsetMismatch, get_storage
from watchparty.videos.storage_s3 import PART_BYTES, S3Storage

BUCKET = "watchparty-test"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_settings(url: str) -> dict[str, object]:
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": url,
        "s3_bucket": BUCKET,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
        "s3_region": "us-east-1",
    }


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(storage: S3Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in storage.read(key, start, end)])


async def test_s3_storage_appends_pieces_and_reads_them_as_one(s3_url: str, tmp_path: Path) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path, **s3_settings(s3_url))
    storage = S3Storage.from_settings(settings)
    storage.client.create_bucket(Bucket=BUCKET)
    key = "videos/abc/original"
    data = os.urandom(PART_BYTES + 300_000)
    assert await storage.size(key) is None
    assert await storage.write(key, chunks(data[: PART_BYTES + 100_000])) == PART_BYTES + 100_000
    with pytest.raises(StorageOffsetMismatch) as caught:
        await storage.write(key, chunks(data[10:]), offset=10)
    assert caught.value.expected == PART_BYTES + 100_000
    with pytest.raises(StorageLimitExceeded):
        await storage.write(
            key,
            chunks(data[PART_BYTES + 100_000 :]),
            offset=PART_BYTES + 100_000,
            limit=PART_BYTES + 200_000,
        )
    assert await storage.size(key) == PART_BYTES + 100_000
    total = await storage.write(
        key, chunks(data[PART_BYTES + 100_000 :]), offset=PART_BYTES + 100_000, limit=len(data)
    )
    assert total == len(data) == await storage.size(key)
    assert await read_all(storage, key) == data
    boundary = PART_BYTES + 100_000
    assert (
        await read_all(storage, key, boundary - 5, boundary + 5)
        == data[boundary - 5 : boundary + 5]
    )
    target = tmp_path / "fetched"
    await storage.fetch_file(key, target)
    assert target.read_bytes() == data

    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(b"jpeg")
    await storage.put_file("videos/abc/thumb.jpg", thumb)
    assert await read_all(storage, "videos/abc/thumb.jpg") == b"jpeg"
    await storage.delete_prefix("videos/abc/")
    assert await storage.size(key) is None
    assert await storage.size("videos/abc/thumb.jpg") is None
    restarted = await storage.write(key, chunks(b"fresh"))
    assert restarted == 5 and await read_all(storage, key) == b"fresh"


async def failing(data: bytes) -> AsyncIterator[bytes]:
    """`data`, then the source breaks (a client gone mid-upload)."""
    async for chunk in chunks(data):
        yield chunk
    raise ConnectionError("the client went away")


async def test_s3_storage_keeps_what_arrived_when_the_source_fails(
    s3_url: str, tmp_path: Path
) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path, **s3_settings(s3_url))
    storage = S3Storage.from_settings(settings)
    storage.client.create_bucket(Bucket=BUCKET)
    key = "videos/broken/original"
    data = os.urandom(PART_BYTES + 200_000)
    with pytest.raises(ConnectionError):  # less than a part: one plain object
        await storage.write(key, failing(data[:100_000]))
    assert await storage.size(key) == 100_000
    with pytest.raises(ConnectionError):  # more than a part: the multipart upload is completed
        await storage.write(key, failing(data[100_000:]), offset=100_000)
    assert await storage.size(key) == len(data)
    assert await read_all(storage, key) == data


async def test_upload_shim_on_s3(s3_url: str, tmp_path: Path) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path, **s3_settings(s3_url))
    async with running_app(settings) as api:
        storage = get_storage(api.state)
        assert isinstance(storage, S3Storage)
        storage.client.create_bucket(Bucket=BUCKET)
        owner = await person(api)
        payload = await start_upload(api, owner.token, 1000)
        path = upload_path(payload)
        assert (await api.client.put(path, content=b"a" * 600)).json()["receivedBytes"] == 600
        assert (await api.client.head(path)).headers["upload-offset"] == "600"
        too_much = await api.client.put(path, content=b"b" * 401, headers={"upload-offset": "600"})
        assert too_much.status_code == 413
        rest = await api.client.put(path, content=b"b" * 400, headers={"upload-offset": "600"})
        assert rest.json()["receivedBytes"] == 1000
        video_id = payload["video"]["id"]
        done = await video_mutate(api, "completeVideoUpload", owner.token, videoId=video_id)
        assert done["video"]["status"] == "QUEUED"
        assert await read_all(storage, original_key(video_id)) == b"a" * 600 + b"b" * 400
