"""`watchparty billing ...`: support commands for billing.

`register(sub)` adds the `billing` group to the main parser (`watchparty/cli.py`); each command
is added by its own function so further ones (grants) slot in beside them.

- `watchparty billing inbox [--status PENDING|FAILED|IGNORED|PROCESSED] [--limit N]`: the
  webhook events that are stuck (PENDING and FAILED by default), oldest first, one per line:
  id, type, status, attempts, received at, last error.
- `watchparty billing replay EVENT_ID`: process one event again, now, in this process (no
  worker needed); FAILED, IGNORED and PENDING ones. A failure is printed and leaves it FAILED.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from watchparty.config import load_settings


def register(sub: Any) -> None:
    billing = sub.add_parser("billing", help="billing support: the webhook inbox")
    commands = billing.add_subparsers(dest="billing_command", required=True)
    add_inbox_command(commands)
    add_replay_command(commands)


def add_inbox_command(commands: Any) -> None:
    inbox = commands.add_parser("inbox", help="list stuck Stripe webhook events")
    inbox.add_argument(
        "--status",
        choices=["PENDING", "FAILED", "IGNORED", "PROCESSED"],
        help="only this status (default: PENDING and FAILED)",
    )
    inbox.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    inbox.set_defaults(run=_inbox)


def add_replay_command(commands: Any) -> None:
    replay = commands.add_parser("replay", help="process one Stripe webhook event again, now")
    replay.add_argument("event_id", metavar="EVENT_ID")
    replay.set_defaults(run=_replay)


def _inbox(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from watchparty.billing.models import InboxStatus, StripeEvent
    from watchparty.db import create_engine, create_sessionmaker

    statuses = (
        [InboxStatus(args.status)] if args.status else [InboxStatus.PENDING, InboxStatus.FAILED]
    )

    async def rows() -> list[StripeEvent]:
        settings = load_settings()
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                found = await session.scalars(
                    select(StripeEvent)
                    .where(StripeEvent.status.in_(statuses))
                    .order_by(StripeEvent.received_at, StripeEvent.id)
                    .limit(max(1, args.limit))
                )
                return list(found)
        finally:
            await engine.dispose()

    found = asyncio.run(rows())
    for row in found:
        error = (row.last_error or "").replace("\n", " ")
        print(
            f"{row.id}\t{row.type}\t{row.status.value}\t{row.attempts}\t"
            f"{row.received_at.isoformat()}\t{error}"
        )
    print(f"{len(found)} event{'s' * (len(found) != 1)}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from watchparty.billing.webhooks import replay
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    async def run() -> tuple[str | None, str | None]:
        async with build_state(load_settings(), functions=job_functions(), periodics=[]) as state:
            try:
                status = await replay(state, args.event_id)
            except Exception as exc:
                return "FAILED", f"{type(exc).__name__}: {exc}"
            return (None if status is None else status.value), None

    status, error = asyncio.run(run())
    if status is None:
        print(f"error: no Stripe event {args.event_id}", file=sys.stderr)
        return 2
    if error is not None:
        print(f"error: {args.event_id} failed again: {error}", file=sys.stderr)
        return 1
    print(f"{args.event_id}: {status}")
    return 0
