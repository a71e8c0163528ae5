"""`/healthz` (the process is alive) and `/readyz` (its database and Redis answer).

Readiness is what a load balancer or orchestrator asks before sending traffic: both checks run
concurrently with a short timeout, and a failure names the exception type (never its message,
which can contain connection strings) so an operator knows where to look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from watchparty.state import AppState

READY_TIMEOUT_SECONDS = 2.0
NO_STORE = {"cache-control": "no-store"}


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def _check_database(state: AppState) -> str:
    async with state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return "ok"


async def _check_redis(state: AppState) -> str:
    if state.redis is None:
        return "embedded"
    await state.redis.ping()
    return "ok"


async def _outcome(check: Awaitable[str]) -> str:
    try:
        return await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means not ready
        return f"error: {type(exc).__name__}"


async def readyz(request: Request) -> JSONResponse:
    state: AppState = request.app.state.wp
    database, redis = await asyncio.gather(
        _outcome(_check_database(state)), _outcome(_check_redis(state))
    )
    checks = {"database": database, "redis": redis}
    ready = not any(value.startswith("error") for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
