"""Measurement hooks for a server process under bench, off unless the bench asks for them.

The benches put this directory on the server's PYTHONPATH (`common.watchparty_server(...,
gc_stats=..., tracemalloc_dir=...)`), so any checkout's `watchparty serve` can be measured the
same way (main's too, for a before/after) without the server knowing:

- `WATCHPARTY_PROBE_GC_STATS=<file>`: time every collection from `gc.callbacks` (wall and CPU,
  per generation, with the epoch time each ended and, for full ones, the objects they walked)
  and write them as JSON to <file> when the
  process exits, with the number of objects still tracked and frozen then.
- `WATCHPARTY_PROBE_TRACEMALLOC=<dir>`: trace allocations from the start (frames:
  `WATCHPARTY_PROBE_TRACEMALLOC_FRAMES`, default 12); each SIGUSR2 runs a full collection and
  writes `<dir>/snapshot-<n>.pickle` (a `tracemalloc.Snapshot`) and `<dir>/objects-<n>.json`
  (objects tracked by the collector, by type), then `<dir>/done-<n>` last.

Python imports `sitecustomize` at start-up when it is on the path; without the variables this
does nothing.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any


def _gc_stats(path: Path) -> None:
    pauses: dict[int, list[tuple[float, float, int, float, int]]] = {0: [], 1: [], 2: []}
    started: list[float] = [0.0, 0.0, 0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            # A full collection walks every tracked object that is not frozen: count them
            # (before the clock starts; only for the rare full collections).
            started[2] = len(gc.get_objects()) if info["generation"] == 2 else 0
            started[0] = time.perf_counter()
            started[1] = time.thread_time()
            return
        wall = (time.perf_counter() - started[0]) * 1000
        cpu = (time.thread_time() - started[1]) * 1000
        row = (wall, cpu, info["collected"], time.time(), started[2])
        pauses[info["generation"]].append(row)

    def write() -> None:
        gc.callbacks.remove(callback)
        body = {
            "pauses": {str(gen): rows for gen, rows in pauses.items()},
            "tracked_at_exit": len(gc.get_objects()),
            "frozen_at_exit": gc.get_freeze_count(),
            "threshold": gc.get_threshold(),
        }
        path.write_text(json.dumps(body))

    gc.callbacks.append(callback)
    atexit.register(write)


def _tracemalloc(directory: Path, frames: int) -> None:
    tracemalloc.start(frames)
    count = [0]

    def dump(signum: int, frame: object) -> None:
        count[0] += 1
        n = count[0]
        gc.collect()
        tracemalloc.take_snapshot().dump(str(directory / f"snapshot-{n}.pickle"))
        tracked = gc.get_objects()
        types = Counter(type(o).__qualname__ for o in tracked)
        body = {
            "tracked": len(tracked),
            "frozen": gc.get_freeze_count(),
            "types": dict(types.most_common(200)),
        }
        del tracked
        (directory / f"objects-{n}.json").write_text(json.dumps(body))
        (directory / f"done-{n}").write_text("")

    signal.signal(signal.SIGUSR2, dump)


if os.environ.get("WATCHPARTY_PROBE_GC_STATS"):
    _gc_stats(Path(os.environ["WATCHPARTY_PROBE_GC_STATS"]))
if os.environ.get("WATCHPARTY_PROBE_TRACEMALLOC"):
    _tracemalloc(
        Path(os.environ["WATCHPARTY_PROBE_TRACEMALLOC"]),
        int(os.environ.get("WATCHPARTY_PROBE_TRACEMALLOC_FRAMES", "12")),
    )
