"""Upload throughput through the `PUT /uploads/{token}` shim, and the server's memory meanwhile.

One `watchparty serve` process (embedded stack by default; `--stack postgres` for PostgreSQL +
Redis), one account, `createVideoUpload` for a file of `--size-mb` MiB, then one streaming PUT
of that many bytes (generated on the fly: the client holds one chunk, not the file) to the
signed URL, and `HEAD` to check every byte arrived. While it runs, the server's RSS is sampled
every 20 ms: the peak minus the RSS before the upload is what an upload costs in memory (the
shim must not hold the file). The floor is the same bytes written with plain `write()` calls to
a file in the same data directory (the disk's speed for this pattern), measured first.

    .venv/bin/python bench/upload.py                    # 1 GiB, embedded, ~30 s
    .venv/bin/python bench/upload.py --size-mb 256 --stack postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from common import (
    Stack,
    gql,
    log,
    rss_kb,
    running,
    stop_on_sigterm,
    watchparty_server,
)

MIB = 1024 * 1024
REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
    ... on AuthPayload { accessToken } ... on UserError { code message } } }"""
CREATE = """mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) {
    __typename ... on VideoUploadPayload { video { id } uploadUrl uploadHeaders { name value } }
    ... on UserError { code message field } } }"""


def payload_chunk(chunk_bytes: int) -> bytes:
    # Incompressible bytes, so nothing on the way can cheat by compressing.
    return os.urandom(chunk_bytes)


async def body(total: int, chunk: bytes) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = chunk if total - sent >= len(chunk) else chunk[: total - sent]
        sent += len(piece)
        yield piece


def disk_floor(directory: Path, total: int, chunk: bytes) -> float:
    """MB/s of plain buffered writes of the same bytes (fsync'd, like the end of an upload)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "floor.bin"
    started = time.perf_counter()
    with path.open("wb") as handle:
        written = 0
        while written < total:
            piece = chunk if total - written >= len(chunk) else chunk[: total - written]
            handle.write(piece)
            written += len(piece)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return total / MIB / elapsed


async def sample_rss(pid: int, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, RuntimeError):
            peak[0] = max(peak[0], rss_kb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    total = args.size_mb * MIB
    chunk = payload_chunk(args.chunk_kb * 1024)
    stack = await Stack.create(args.stack, UPLOAD_MAX_BYTES=str(total * 2))
    try:
        floor = disk_floor(stack.workdir / "data", total, chunk)
        log(f"disk floor: {floor:.0f} MB/s")
        server = watchparty_server(stack, args.stack)
        async with running(server), httpx.AsyncClient(timeout=600.0) as client:
            base = server.base_url
            registered = await gql(
                client,
                base,
                REGISTER,
                {
                    "input": {
                        "email": "bench-upload@example.com",
                        "password": "correct horse battery",
                        "displayName": "Bench",
                    }
                },
            )
            token = registered["register"]["accessToken"]
            created = await gql(
                client,
                base,
                CREATE,
                {
                    "input": {
                        "title": "Bench upload",
                        "filename": "bench.mp4",
                        "sizeBytes": total,
                        "contentType": "video/mp4",
                    }
                },
                token=token,
            )
            ticket = created["createVideoUpload"]
            assert ticket["__typename"] == "VideoUploadPayload", ticket
            url = base + urlsplit(ticket["uploadUrl"]).path
            headers = {h["name"]: h["value"] for h in ticket["uploadHeaders"]}
            headers["Content-Length"] = str(total)
            await asyncio.sleep(0.5)  # let the server settle after start-up and the mutations
            rss_before = rss_kb(server.pid)
            peak = [rss_before]
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(server.pid, peak, stop))
            started = time.perf_counter()
            response = await client.put(url, content=body(total, chunk), headers=headers)
            elapsed = time.perf_counter() - started
            stop.set()
            await sampler
            assert response.status_code == 200, (response.status_code, response.text)
            head = await client.head(url)
            received = int(head.headers["upload-offset"])
            assert received == total, (received, total)
        result = {
            "stack": args.stack,
            "size_mib": args.size_mb,
            "chunk_kib": args.chunk_kb,
            "seconds": round(elapsed, 2),
            "mb_per_s": round(total / MIB / elapsed, 1),
            "disk_floor_mb_per_s": round(floor, 1),
            "server_rss_before_mb": round(rss_before / 1024, 1),
            "server_rss_peak_mb": round(peak[0] / 1024, 1),
            "server_rss_growth_mb": round((peak[0] - rss_before) / 1024, 1),
        }
        return result
    finally:
        await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="MiB to upload (1024)")
    parser.add_argument("--chunk-kb", type=int, default=1024, help="client chunk KiB (1024)")
    parser.add_argument("--stack", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    stop_on_sigterm()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"upload {result['size_mib']} MiB ({result['stack']}): {result['seconds']} s, "
        f"{result['mb_per_s']} MB/s (disk floor {result['disk_floor_mb_per_s']} MB/s); "
        f"server RSS {result['server_rss_before_mb']} MB before, peak "
        f"{result['server_rss_peak_mb']} MB (+{result['server_rss_growth_mb']} MB)"
    )


if __name__ == "__main__":
    main()
