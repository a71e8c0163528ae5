"""A redis-server of a test's own on a loopback port, to kill, restart, freeze and thaw at will.

Fault tests never touch the shared Redis (other test runs use it at the same time). The
`redis_server` fixture (conftest.py) gives each test a fresh one.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support import free_port


class RedisServer:
    """Without persistence by default; `directory` gives it an append-only file, so a restart
    keeps its data (the job queue), as in production."""

    def __init__(self, directory: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self._process: asyncio.subprocess.Process | None = None

    def _arguments(self) -> list[str]:
        common = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.directory is None:
            return [*common, "--appendonly", "no", "--daemonize", "no"]
        self.directory.mkdir(parents=True, exist_ok=True)
        return [
            *common,
            "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
            "--daemonize", "no",
        ]  # fmt: skip

    async def start(self) -> None:
        """Start (or start again, on the same port) and wait until it answers."""
        self._process = await asyncio.create_subprocess_exec(
            "redis-server",
            *self._arguments(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = self.client()
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return
                except RedisConnectionError:
                    await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """Kill it (a frozen one too) and wait until it is gone."""
        process = self._process
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            await process.wait()

    def freeze(self) -> None:
        """SIGSTOP: it keeps its connections and answers nothing, like a stuck Redis."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def client(self) -> Redis:
        return Redis.from_url(self.url)
