"""The ARQ worker: `watchparty worker` runs every job in `registry.job_functions()` against Redis.

ARQ retries a job only when it raises `arq.Retry`; any other exception fails it for good. Our
jobs are idempotent, so `retrying` turns an unexpected exception into a `Retry` with a growing
delay until the last try, which fails (and is logged as an error, so it reaches Sentry).
"""

from __future__ import annotations

import functools
import logging
import time
from contextlib import AsyncExitStack
from typing import Any, cast

from arq.cron import CronJob, cron
from arq.typing import WorkerCoroutine
from arq.worker import Function, Retry, Worker, func

from watchparty.config import Settings, load_settings
from watchparty.jobs import (
    MAX_TRIES,
    JobFunction,
    Periodic,
    job_deserializer,
    job_pool,
    job_serializer,
    queue_name,
    retry_delay_seconds,
)
from watchparty.logs import configure_logging
from watchparty.registry import job_functions, periodic_jobs
from watchparty.resilient_worker import ResilientWorker
from watchparty.state import build_state
from watchparty.videos.tasks import requeue_dead_runs
from watchparty.videos.workdirs import dead_run, remove_stale_work_directories

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 300
# Jobs that may legitimately run longer. `process_video` bounds its own ffmpeg run by the
# video's duration (videos/tasks.py); this only keeps ARQ from cancelling a long transcode.
# ARQ derives the in-progress lock of every job from the largest timeout, so after a worker is
# killed its other jobs are retried only when that lock expires; processing has its own
# heartbeat sweeper and does not wait for it.
LONG_JOB_TIMEOUTS: dict[str, int] = {"process_video": 6 * 3600}


def retrying(function: JobFunction, *, max_tries: int = MAX_TRIES) -> JobFunction:
    """Retry an idempotent job on any exception, with backoff, up to `max_tries` runs."""

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        job_try = int(ctx.get("job_try", 1))
        about = {"job": function.__name__, "job_id": ctx.get("job_id"), "job_try": job_try}
        started = time.perf_counter()
        try:
            result = await function(ctx, *args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            if job_try >= max_tries:
                raise  # ARQ logs the final failure as an error
            log.warning("job failed, will retry", exc_info=True, extra=about)
            raise Retry(defer=retry_delay_seconds(job_try)) from exc
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("job done", extra={**about, "duration_ms": duration_ms})
        return result

    return run


def worker_functions(functions: dict[str, JobFunction] | None = None) -> list[Function]:
    functions = job_functions() if functions is None else functions
    return [
        func(
            cast(WorkerCoroutine, retrying(f)),
            name=name,
            max_tries=MAX_TRIES,
            timeout=LONG_JOB_TIMEOUTS.get(name, JOB_TIMEOUT_SECONDS),
        )
        for name, f in functions.items()
    ]


def cron_jobs(periodics: list[Periodic] | None = None, *, prefix: str = "") -> list[CronJob]:
    """ARQ cron jobs; `unique` (the default) makes one worker run each tick however many run.

    A tick's job id is `<name>:<time>`, and ARQ's job ids are global to the Redis: named without
    REDIS_KEY_PREFIX, a deployment sharing the Redis would take every tick and ours would never
    run. So the cron names carry the prefix (they name the function within this worker only)."""
    jobs = []
    for periodic in periodic_jobs() if periodics is None else periodics:
        every = periodic.every_seconds
        if every < 60:
            schedule: dict[str, Any] = {"second": set(range(0, 60, every))}
        elif every == 60:
            schedule = {"second": 0}
        else:
            schedule = {"minute": set(range(0, 60, every // 60)), "second": 0}
        coroutine = cast(WorkerCoroutine, periodic.function)
        name = prefix + periodic.name
        jobs.append(cron(coroutine, name=name, timeout=JOB_TIMEOUT_SECONDS, **schedule))
    return jobs


def create_worker(
    settings: Settings, *, functions: dict[str, JobFunction] | None = None, **overrides: Any
) -> Worker:
    """An ARQ worker whose jobs get `ctx["state"]`, the same AppState the API server builds.
    It survives Redis restarts and freezes (`ResilientWorker`)."""
    # ARQ logs every job's arguments at INFO; ours can hold email bodies with one-time tokens.
    # `retrying` logs a "job done" line without them; ARQ's warnings and errors still show.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    stack = AsyncExitStack()

    async def startup(ctx: dict[str, Any]) -> None:
        # What a killed worker on this machine left behind (its ffmpeg died with it) ...
        removed = remove_stale_work_directories()
        for path in removed:
            log.warning("removed a dead worker's work directory", extra={"path": str(path)})
        ctx["state"] = state = await stack.enter_async_context(
            build_state(
                settings,
                functions=job_functions(),
                periodics=periodic_jobs(),
                worker=True,
            )
        )
        # ... and the videos it was processing, handed back now rather than when stale.
        await requeue_dead_runs(state, filter(None, map(dead_run, removed)))

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stack.aclose()

    options: dict[str, Any] = {
        "functions": worker_functions(functions),
        "cron_jobs": cron_jobs(prefix=settings.redis_key_prefix),
        "pool_factory": functools.partial(job_pool, settings),
        "job_lease_seconds": settings.worker_job_lease_seconds,
        "queue_name": queue_name(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "max_jobs": settings.worker_concurrency,
        "max_tries": MAX_TRIES,
        "handle_signals": True,
        "health_check_key": settings.redis_key_prefix + "arq:health-check",
    }
    if overrides.get("burst"):
        # A burst worker runs what is queued and stops; a schedule (the analytics drain runs
        # every second) would keep its queue from ever being empty.
        options["cron_jobs"] = []
    options.update(overrides)
    return ResilientWorker(**options)


def run_worker() -> None:
    from watchparty.observability import init_sentry

    settings = load_settings()
    if not settings.redis_url:
        raise SystemExit("watchparty worker needs REDIS_URL (embedded mode runs jobs in-process)")
    configure_logging(settings)
    init_sentry(settings)
    log.info("worker starting", extra={"queue": queue_name(settings)})
    create_worker(settings).run()
