"""`/healthz` (the process is alive) and `/readyz` (its database and Redis answer)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from watchparty.state import AppState

READY_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_database(state: AppState) -> None:
    async with state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _check_redis(state: AppState) -> None:
    if state.redis is not None:
        await state.redis.ping()


async def readyz(request: Request) -> JSONResponse:
    state: AppState = request.app.state.wp
    checks = {"database": _check_database(state), "redis": _check_redis(state)}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
            results[name] = "ok" if name != "redis" or state.redis is not None else "embedded"
        except Exception as exc:  # any failure means not ready; the reason is for operators
            results[name] = f"error: {type(exc).__name__}"
    ready = all(not v.startswith("error") for v in results.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
    )


routes = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
