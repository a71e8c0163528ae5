"""What a connection holds: the difference of two `tracemalloc` snapshots of the server
(probe/sitecustomize.py), per connection, grouped three ways. Used by `fanout.py --tracemalloc`;
also runnable on kept snapshots:

    .venv/bin/python bench/memory.py DIR BEFORE AFTER CONNECTIONS

- by allocating package: the module that called the allocator (`site-packages/<pkg>/`, the
  standard library module, or `watchparty.<subpackage>`);
- by our call site: the innermost `watchparty/` frame of the allocation's traceback, so memory
  that Strawberry, asyncio or SQLAlchemy allocate on our behalf is charged to the line of ours
  that asked for it;
- objects the collector tracks, by type (what a full collection walks).
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

PACKAGE_MARK = "site-packages/"


def package_of(filename: str) -> str:
    if PACKAGE_MARK in filename:
        rest = filename.split(PACKAGE_MARK, 1)[1]
        return rest.split("/", 1)[0].removesuffix(".py")
    if "/watchparty/" in filename:
        parts = filename.split("/watchparty/", 1)[1].split("/")
        return "watchparty." + (parts[0].removesuffix(".py") if len(parts) > 1 else parts[0])
    if "/python3" in filename or "/lib/python" in filename:
        tail = filename.split("/lib/python", 1)[-1].split("/", 1)[-1]
        return "stdlib " + tail.split("/", 1)[0].removesuffix(".py")
    return filename


def our_frame(traceback: tracemalloc.Traceback) -> str:
    """The innermost watchparty frame (a Traceback runs oldest to most recent)."""
    for frame in reversed(traceback):
        if "/watchparty/" in frame.filename and "/bench/" not in frame.filename:
            short = frame.filename.split("/watchparty/", 1)[1]
            return f"watchparty/{short}:{frame.lineno}"
    return "(no watchparty frame)"


def breakdown(directory: Path, before: int, after: int, connections: int, top: int = 25) -> str:
    old = tracemalloc.Snapshot.load(str(directory / f"snapshot-{before}.pickle"))
    new = tracemalloc.Snapshot.load(str(directory / f"snapshot-{after}.pickle"))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignore), new.filter_traces(ignore)
    diffs = new.compare_to(old, "traceback")
    by_package: Counter[str] = Counter()
    by_site: Counter[str] = Counter()
    blocks = 0
    for stat in diffs:
        by_package[package_of(stat.traceback[-1].filename)] += stat.size_diff
        by_site[our_frame(stat.traceback)] += stat.size_diff
        blocks += stat.count_diff
    total = sum(by_package.values())
    lines = [
        f"traced: {total / 1024 / connections:.1f} KB per connection "
        f"({blocks / connections:.0f} blocks), over {connections} connections",
        "",
        "| allocated in | KB per connection |",
        "|---|---|",
    ]
    for name, size in by_package.most_common(top):
        lines.append(f"| {name} | {size / 1024 / connections:.2f} |")
    lines += ["", "| on behalf of (innermost watchparty frame) | KB per connection |", "|---|---|"]
    for name, size in by_site.most_common(top):
        lines.append(f"| {name} | {size / 1024 / connections:.2f} |")
    objects_old = json.loads((directory / f"objects-{before}.json").read_text())
    objects_new = json.loads((directory / f"objects-{after}.json").read_text())
    tracked = (objects_new["tracked"] - objects_old["tracked"]) / connections
    lines += [
        "",
        f"objects tracked by the collector: {tracked:.0f} more per connection "
        f"({objects_new['tracked']:,} tracked, {objects_new['frozen']:,} frozen)",
        "",
        "| type | tracked objects per connection |",
        "|---|---|",
    ]
    types: Counter[str] = Counter(objects_new["types"])
    types.subtract(objects_old["types"])
    for name, count in types.most_common(top):
        lines.append(f"| {name} | {count / connections:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    folder, first, second, count = sys.argv[1:5]
    print(breakdown(Path(folder), int(first), int(second), int(count)))
