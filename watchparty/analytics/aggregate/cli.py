"""`watchparty analytics aggregate [--scope party|video|user|system|all]`: one aggregation run
now, in this process (no worker needed), recorded as an `AnalyticsJob` like the cron's; prints
what each scope read and recomputed. Exit code 1 when the run FAILED."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from watchparty.config import load_settings


async def _aggregate(scope: str) -> int:
    from watchparty.analytics import runs
    from watchparty.analytics.aggregate.jobs import REQUEST_SCOPES, run_job
    from watchparty.analytics.models import JobKind, JobStatus
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    assert scope in REQUEST_SCOPES
    built = build_state(load_settings(), functions=job_functions(), periodics=[])
    async with built as state:
        async with state.unit_of_work() as uow:
            job = await runs.create(uow, JobKind.AGGREGATE, scope)
        finished = await run_job(state, job.id)
    assert finished is not None
    print(f"job {finished.id}: {finished.status.value}, {finished.processed} events")
    for result in finished.params.get("result", []):
        print(
            f"  {result['scope']}: {result['events']} events, {result['keys']} keys "
            f"recomputed, watermark {result['watermark']}"
        )
    if finished.status is JobStatus.FAILED:
        print(f"  error: {finished.error}")
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_aggregate(args.scope))


def add_commands(sub: Any) -> None:
    """The `analytics` command group (the composition root's `cli.py` calls this)."""
    analytics = sub.add_parser("analytics", help="analytics: aggregation runs")
    commands = analytics.add_subparsers(dest="analytics_command", required=True)
    aggregate = commands.add_parser("aggregate", help="run the aggregation now")
    aggregate.add_argument(
        "--scope",
        choices=["party", "video", "user", "system", "all"],
        default="all",
        help="which aggregates (default: all)",
    )
    aggregate.set_defaults(run=_run)
