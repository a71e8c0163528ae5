"""The ARQ worker: `watchparty worker` runs every job in `jobs.job_functions()` against Redis."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, func

from watchparty.config import Settings, load_settings
from watchparty.jobs import job_deserializer, job_functions, job_serializer
from watchparty.logs import configure_logging


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


def queue_name(settings: Settings) -> str:
    return settings.redis_key_prefix + "arq:queue"


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    from watchparty.state import build_state

    stack = AsyncExitStack()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = await stack.enter_async_context(build_state(settings, worker=True))

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stack.aclose()

    options: dict[str, Any] = {
        "functions": [func(f, name=name) for name, f in job_functions().items()],
        "redis_settings": redis_settings(settings),
        "queue_name": queue_name(settings),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "max_jobs": settings.worker_concurrency,
        "handle_signals": True,
        "health_check_key": settings.redis_key_prefix + "arq:health-check",
    }
    options.update(overrides)
    return Worker(**options)


def run_worker() -> None:
    settings = load_settings()
    if not settings.redis_url:
        raise SystemExit("watchparty worker needs REDIS_URL (embedded mode runs jobs in-process)")
    configure_logging(settings)
    create_worker(settings).run()
