"""Running the real `watchparty` command in a subprocess (serve, seed-demo, migrate ...)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from tests.support import PG_ADMIN_URL, free_port
from watchparty.migrations import upgrade_to_head

# Only what a process needs to run; nothing of the caller's configuration leaks in.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


def watchparty_command() -> list[str]:
    script = Path(sys.executable).with_name("watchparty")
    return [str(script)] if script.exists() else [sys.executable, "-m", "watchparty.cli"]


def command_env(data_dir: Path, **values: str) -> dict[str, str]:
    """Environment for a subprocess: embedded defaults under `data_dir`, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k in _PASSED_THROUGH}
    env.update(APP_ENV="test", DATA_DIR=str(data_dir), LOG_FORMAT="json", LOG_LEVEL="INFO")
    env.update(values)
    return env


def run_command(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*watchparty_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@asynccontextmanager
async def served(env: dict[str, str], cwd: Path, *extra: str) -> AsyncIterator[Served]:
    """`watchparty serve` on a free loopback port, ready (healthz answers) when yielded."""
    port = free_port()
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*watchparty_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=env,
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    server = Served(url, process, log_path)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            for _ in range(300):
                if process.poll() is not None:
                    raise AssertionError(f"serve exited with {process.returncode}:\n{server.log()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"serve did not become healthy:\n{server.log()}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of the caller's own; dropped at the end if still there."""
    name = f"wp_scratch_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await upgrade_to_head(f"{base}/{name}")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def drop_database(url: str) -> None:
    """Drop a database while something uses it (its connections are terminated)."""
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()
