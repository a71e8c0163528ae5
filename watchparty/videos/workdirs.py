"""Processing's private temporary directories, and what a dead worker's ones tell.

A run works in `<tmp>/watchparty-work-<pid>-<start>-<video id>-<lease token>-<random>`, where
pid and start (the process's start time in clock ticks since boot, from /proc; 0 elsewhere) name
the worker process, and removes it when it ends, however it ends, unless its worker is killed
(SIGKILL, out of memory). A worker starting on the same machine removes every such directory whose
process is gone (a pid now running another process, with another start time, counts as gone: a
restarted container often gets its predecessor's pid), and learns from the names which runs
died: `tasks.requeue_dead_runs` hands those videos back at once instead of waiting for their
heartbeat to go stale. Directories of live processes, this one's included, are left alone. (This
assumes the temporary directory is the machine's own, as it is unless TMPDIR points at shared
storage.)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PREFIX = "watchparty-work-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-(\d+)-")
_RUN = re.compile(re.escape(PREFIX) + r"\d+-\d+-([0-9a-f]{8}-[0-9a-f-]{27})-(\d+)-")


@dataclass(frozen=True, slots=True)
class DeadRun:
    """A run whose worker died: the video and the lease token it held."""

    video_id: uuid.UUID
    token: int


def work_directory(video_id: uuid.UUID, token: int) -> tempfile.TemporaryDirectory[str]:
    """A new private directory for one run (a context manager removing it at the end)."""
    pid = os.getpid()
    owner = f"{pid}-{process_start(pid) or 0}"
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{owner}-{video_id}-{token}-")


def dead_run(path: Path) -> DeadRun | None:
    """The run a removed directory belonged to (None for a name without one)."""
    match = _RUN.match(path.name)
    if match is None:
        return None
    return DeadRun(uuid.UUID(match.group(1)), int(match.group(2)))


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; None without it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def process_start(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (Linux); None when unknown."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, start: int = 0) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped, does not) and, when `start` is
    given, is the process that started then (not a later one with the same pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (not Linux), or it just ended: assume alive
    if fields[:1] == ["Z"]:
        return False
    return not start or process_start(pid) == start


def remove_stale_work_directories(root: Path | None = None) -> list[Path]:
    """Remove the work directories of processes that are gone; returns what was removed."""
    root = Path(tempfile.gettempdir()) if root is None else root
    removed = []
    for path in sorted(root.glob(PREFIX + "*")):
        match = _NAME.match(path.name)
        if match is None or not path.is_dir():
            continue
        if process_alive(int(match.group(1)), int(match.group(2))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed
