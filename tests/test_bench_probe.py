"""The benches' server probe (bench/probe/sitecustomize.py): inert unless asked, and when asked it
writes every collection's pause and tracemalloc snapshots on SIGUSR2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

PROBE = Path(__file__).resolve().parent.parent / "bench" / "probe"

SCRIPT = """
import gc, sys, time, tracemalloc
print(tracemalloc.is_tracing(), flush=True)
gc.collect()
gc.collect(0)
if len(sys.argv) > 1:
    time.sleep(float(sys.argv[1]))
"""


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(PROBE), **env}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=full, capture_output=True, text=True, check=True
    )


def test_off_without_the_variables(tmp_path: Path) -> None:
    done = run({"WATCHPARTY_PROBE_GC_STATS": "", "WATCHPARTY_PROBE_TRACEMALLOC": ""})
    assert done.stdout.strip() == "False"
    assert list(tmp_path.iterdir()) == []


def test_gc_stats_written_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "gc.json"
    done = run({"WATCHPARTY_PROBE_GC_STATS": str(path)})
    assert done.stdout.strip() == "False"
    stats = json.loads(path.read_text())
    assert set(stats["pauses"]) == {"0", "1", "2"}
    assert len(stats["pauses"]["2"]) >= 1  # the script's own gc.collect()
    assert len(stats["pauses"]["0"]) >= 1
    wall, cpu, collected, ended, walked = stats["pauses"]["2"][-1]
    assert wall >= 0 and cpu >= 0 and collected >= 0 and ended > 0 and walked > 0
    assert stats["tracked_at_exit"] > 0


def test_tracemalloc_snapshot_on_sigusr2(tmp_path: Path) -> None:
    full = {**os.environ, "PYTHONPATH": str(PROBE), "WATCHPARTY_PROBE_TRACEMALLOC": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "30"], env=full, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "True"
        process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not (tmp_path / "done-1").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    snapshot = tracemalloc.Snapshot.load(str(tmp_path / "snapshot-1.pickle"))
    assert snapshot.traceback_limit == 12
    objects = json.loads((tmp_path / "objects-1.json").read_text())
    assert objects["tracked"] > 0
    assert objects["types"]["dict"] > 0
