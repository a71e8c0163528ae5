"""`watchparty serve | worker | migrate | export-schema | seed-demo | notify | billing | analytics
| user | search`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from watchparty.analytics import cli as staff_cli
from watchparty.analytics.aggregate import cli as analytics_cli
from watchparty.billing import cli as billing_cli
from watchparty.config import ConfigurationError, load_settings
from watchparty.errors import Problem
from watchparty.search import cli as search_cli

if TYPE_CHECKING:
    from watchparty.notifications.announcements import Announcement

T = TypeVar("T")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = load_settings()
    if args.workers > 1 and settings.embedded:
        # Each process would keep its own broadcast, presence and rate limits: a subscriber on
        # one would never see what a mutation on the other publishes.
        raise ConfigurationError(
            "--workers above 1 needs REDIS_URL: the embedded stack keeps the "
            "broadcast, presence and rate limits in one process's memory"
        )
    uvicorn.run(
        "watchparty.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        ws="watchparty.http.ws_transport:BoundedWebSocketProtocol",
        log_config=None,
        access_log=False,
        ws_max_size=1_048_576,
        ws_per_message_deflate=settings.ws_per_message_deflate,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from watchparty.worker import run_worker

    run_worker()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from watchparty.migrations import upgrade_to_head_sync

    settings = load_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head_sync(settings.database_url)
    print("database is at the latest migration")
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from watchparty.schema import export_sdl

    sdl = export_sdl()
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"wrote {args.output}")
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from watchparty.seed import DEMO_PASSWORD, seed_demo

    demo = asyncio.run(seed_demo(load_settings()))
    print(f"demo users (password: {DEMO_PASSWORD}):")
    for user in demo.users:
        print(f"  {user.email:<32} {'created' if user.created else 'already there'}")
    print(f"demo party: {demo.party_title} (code {demo.party_code}, id {demo.party_id})")
    if demo.sample_video_id is not None:
        print(f"demo sample video: {demo.sample_video_id} (in the demo party's queue)")
    return 0


class CommandError(Exception):
    """A command's input or target is wrong: printed as `error: ...`, exit code 2."""


def _notify(args: argparse.Namespace) -> int:
    from watchparty.notifications import announcements

    try:
        sent = announcements.announcement(
            title=args.title,
            body=args.body,
            action_path=args.action_path,
            expires_in_days=args.expires_in_days,
            announcement_id=args.id,
        )
    except Problem as exc:
        raise CommandError(exc.message) from None
    if args.batch_size is not None and args.batch_size < 1:
        raise CommandError("--batch-size must be at least 1.")
    try:
        notified, skipped = asyncio.run(_send(args, sent))
    except Problem as exc:
        raise CommandError(exc.message) from None
    print(
        f"announcement {sent.id}: notified {notified} account{'s' * (notified != 1)}"
        f" ({skipped} already had it)"
    )
    return 0


async def _send(args: argparse.Namespace, sent: Announcement) -> tuple[int, int]:
    from watchparty.notifications import announcements
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    notified = skipped = 0
    async with build_state(load_settings(), functions=job_functions(), periodics=[]) as state:
        if args.user is not None:
            async with state.unit_of_work() as uow:
                one = await announcements.send_to_one(uow, sent, args.user)
            return one.notified, one.skipped
        size = args.batch_size or announcements.NOTIFY_BATCH
        batches = announcements.send_to_all(state.unit_of_work, sent, batch_size=size)
        async for number, batch in _numbered(batches):
            notified += batch.notified
            skipped += batch.skipped
            print(
                f"batch {number}: notified {batch.notified}, already had it {batch.skipped}",
                file=sys.stderr,
            )
    return notified, skipped


async def _numbered(items: AsyncIterator[T]) -> AsyncIterator[tuple[int, T]]:
    number = 0
    async for item in items:
        number += 1
        yield number, item


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="watchparty", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For is trusted",
    )
    serve.set_defaults(run=_serve)

    sub.add_parser("worker", help="run the ARQ worker (needs REDIS_URL)").set_defaults(run=_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("output", nargs="?", default="schema.graphql", help="path, or - for stdout")
    export.set_defaults(run=_export_schema)

    sub.add_parser("seed-demo", help="load a small demo data set").set_defaults(run=_seed_demo)

    notify = sub.add_parser(
        "notify",
        help="send an announcement to every active account, or to one (idempotent per --id)",
    )
    target = notify.add_mutually_exclusive_group(required=True)
    target.add_argument("--all", action="store_true", help="every active account")
    target.add_argument("--user", metavar="EMAIL", help="one account")
    notify.add_argument("--title", required=True, help="at most 80 characters")
    notify.add_argument("--body", required=True, help="at most 180 characters")
    notify.add_argument("--action-path", help="where the frontend goes, e.g. /parties")
    notify.add_argument("--expires-in-days", type=int, help="default 30")
    notify.add_argument(
        "--id",
        help="the announcement's id (default: a new one, printed); run again with the same id "
        "to reach only the accounts that do not have it yet",
    )
    notify.add_argument("--batch-size", type=int, help="accounts per transaction (default 500)")
    notify.set_defaults(run=_notify)

    billing_cli.add_commands(sub)
    analytics_cli.add_commands(sub)
    staff_cli.add_commands(sub)
    search_cli.add_commands(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Problem as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
