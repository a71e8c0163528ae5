"""Recovery from a worker killed mid-transcode: how long until the video is processed again.

On the production stack (a scratch PostgreSQL database, Redis under a unique key prefix, local
storage), per PROCESSING_STALE_SECONDS value given (`--stale`, "default" for the configured one):

1. `watchparty serve` and one `watchparty worker`; upload a test-pattern sample, complete it;
2. once the worker is transcoding (its ffmpeg child seen in /proc), SIGKILL the worker and start
   another at once (`--restart-delay` to wait first): on the "same" machine, as a supervisor
   would (same temporary directory: it finds the dead run's work directory), or on an "other"
   one (its own TMPDIR: only the stale-heartbeat sweeper can notice);
3. poll `video(id) { processing }` every 50 ms and time, from the kill: the new run's claim
   (PROCESSING again), and READY.

Also reports whether the killed worker's ffmpeg outlived it and whether its work directory was
left behind once the new worker had started. One run per value, `--runs` for more (medians).

    .venv/bin/python bench/worker_recovery.py                 # default stale, both, ~1 min
    .venv/bin/python bench/worker_recovery.py --stale 120 --machines other   # the old default
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from common import BIN, Stack, gql, log, running, stop_on_sigterm, watchparty_server

REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
    ... on AuthPayload { accessToken } ... on UserError { code message } } }"""
CREATE = """mutation($input: CreateVideoUploadInput!) { createVideoUpload(input: $input) {
    __typename ... on VideoUploadPayload { video { id } uploadUrl uploadHeaders { name value } }
    ... on UserError { code message field } } }"""
COMPLETE = """mutation($input: VideoIdInput!) { completeVideoUpload(input: $input) {
    __typename ... on UserError { code message } } }"""
PROCESSING = """query($id: ID!) { video(id: $id) { processing { status stage progress } } }"""


def make_sample(path: Path, seconds: int, size: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def ffmpeg_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == parent and name == "ffmpeg" and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def start_worker(stack: Stack, env: dict[str, str], name: str) -> asyncio.subprocess.Process:
    with (stack.workdir / f"{name}.log").open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            str(BIN / "watchparty"), "worker", env=env, cwd=stack.workdir, stdout=sink, stderr=sink
        )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def one_run(
    args: argparse.Namespace, stale: str, machine: str, sample: Path, run: int
) -> dict[str, Any]:
    extra = {"PROCESSING_HEIGHTS": args.heights}
    if stale != "default":
        extra["PROCESSING_STALE_SECONDS"] = stale
    stack = await Stack.create("postgres", **extra)
    work = stack.workdir / "tmp"
    work.mkdir()
    env = {**stack.env, "TMPDIR": str(work)}
    workers: list[asyncio.subprocess.Process] = []
    try:
        server = watchparty_server(stack, "api")
        async with running(server), httpx.AsyncClient(timeout=60.0) as client:
            base = server.base_url
            account = {
                "email": f"bench-recovery-{run}@example.com",
                "password": "correct horse battery",
                "displayName": "Bench",
            }
            token = (await gql(client, base, REGISTER, {"input": account}))["register"][
                "accessToken"
            ]
            data = sample.read_bytes()
            ticket = (
                await gql(
                    client,
                    base,
                    CREATE,
                    {
                        "input": {
                            "title": "Recovery",
                            "filename": "sample.mp4",
                            "sizeBytes": len(data),
                            "contentType": "video/mp4",
                        }
                    },
                    token=token,
                )
            )["createVideoUpload"]
            headers = {h["name"]: h["value"] for h in ticket["uploadHeaders"]}
            put = await client.put(
                base + urlsplit(ticket["uploadUrl"]).path, content=data, headers=headers
            )
            assert put.status_code in (200, 201, 204), put.text
            video_id = ticket["video"]["id"]

            async def processing() -> dict[str, Any]:
                answer = await gql(client, base, PROCESSING, {"id": video_id}, token=token)
                result: dict[str, Any] = answer["video"]["processing"]
                return result

            workers.append(await start_worker(stack, env, "worker-1"))
            await gql(client, base, COMPLETE, {"input": {"videoId": video_id}}, token=token)
            first = workers[0]
            children: list[int] = []
            while not children:
                state = await processing()
                if state["stage"] == "TRANSCODING":
                    children = ffmpeg_children(first.pid)
                assert state["status"] != "READY", "finished before it could be killed"
                await asyncio.sleep(0.02)
            first.kill()
            killed_at = time.monotonic()
            await first.wait()
            await asyncio.sleep(args.restart_delay)
            env_2 = env
            if machine == "other":
                env_2 = {**env, "TMPDIR": str(stack.workdir / "tmp-2")}
                (stack.workdir / "tmp-2").mkdir()
            workers.append(await start_worker(stack, env_2, "worker-2"))
            claimed = ready = None
            seen_queued = False
            while ready is None:
                state = await processing()
                now = time.monotonic() - killed_at
                if state["status"] == "QUEUED":
                    seen_queued = True
                restarted = seen_queued or state["stage"] in ("PROBING", "THUMBNAIL")
                if claimed is None and restarted and state["status"] == "PROCESSING":
                    claimed = now
                if state["status"] == "READY":
                    ready = now
                    claimed = claimed if claimed is not None else now
                if state["status"] == "FAILED":
                    raise RuntimeError(f"processing failed: {state}")
                if now > args.timeout:
                    raise RuntimeError(f"not READY {args.timeout} s after the kill: {state}")
                await asyncio.sleep(0.05)
            orphaned = [pid for pid in children if alive(pid)]
            leftovers = sorted(p.name for p in work.iterdir())
            return {
                "stale_seconds": stale,
                "machine": machine,
                "claimed_again_s": round(claimed, 2),
                "ready_s": round(ready, 2),
                "ffmpeg_outlived_worker": bool(orphaned),
                "work_dirs_left": leftovers,
            }
    finally:
        for process in workers:
            with contextlib.suppress(ProcessLookupError):
                await stop(process)
        if args.keep_logs:
            keep = Path(args.keep_logs) / f"stale-{stale}-{machine}-run-{run}"
            keep.mkdir(parents=True, exist_ok=True)
            for path in stack.workdir.glob("*.log"):
                shutil.copy(path, keep / path.name)
        await stack.close()


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    sample_dir = Path(args.sample_dir)
    sample_dir.mkdir(parents=True, exist_ok=True)
    sample = sample_dir / f"recovery-{args.seconds}s-{args.size}.mp4"
    if not sample.exists():
        make_sample(sample, args.seconds, args.size)
    results = []
    for stale in args.stale.split(","):
        for machine in args.machines.split(","):
            results.append(await runs_of(args, stale, machine, sample))
    return results


async def runs_of(
    args: argparse.Namespace, stale: str, machine: str, sample: Path
) -> dict[str, Any]:
    runs = []
    for run in range(args.runs):
        result = await one_run(args, stale, machine, sample, run)
        log(f"stale={stale} machine={machine}: {json.dumps(result)}")
        runs.append(result)
    return {
        "stale_seconds": stale,
        "machine": machine,
        "runs": len(runs),
        "claimed_again_s_median": statistics.median(r["claimed_again_s"] for r in runs),
        "ready_s_median": statistics.median(r["ready_s"] for r in runs),
        "ffmpeg_outlived_worker": any(r["ffmpeg_outlived_worker"] for r in runs),
        "work_dirs_left": sum(len(r["work_dirs_left"]) for r in runs),
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stale", default="default", help="PROCESSING_STALE_SECONDS values")
    parser.add_argument("--machines", default="same,other", help="where the new worker starts")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=30, help="length of the sample")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--heights", default="360,240")
    parser.add_argument("--restart-delay", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--sample-dir", default="/tmp/wpbench-samples")
    parser.add_argument("--keep-logs", default="", help="copy the processes' logs here")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    stop_on_sigterm()
    arguments = parse()
    figures = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{'stale s':>8} {'machine':>8} {'runs':>5} {'claimed again s':>16}", end="")
        print(f" {'READY s':>8}  ffmpeg orphan  dirs left")
        for row in figures:
            print(
                f"{row['stale_seconds']:>8} {row['machine']:>8} {row['runs']:>5}"
                f" {row['claimed_again_s_median']:>16.1f}"
                f" {row['ready_s_median']:>8.1f}  {row['ffmpeg_outlived_worker']!s:>13}"
                f"  {row['work_dirs_left']:>9}"
            )
