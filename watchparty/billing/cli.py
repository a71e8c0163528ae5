"""`watchparty billing ...`: support's commands (comps, what a person holds).

- `grant EMAIL PLAN --until DATE [--note TEXT] [--by NAME]`: a comp (a Subscription row with
  source COMP, status ACTIVE, `comp_until`), recorded with who granted it (`--by`, else the OS
  user); granting again replaces the person's comp. DATE is a day (the comp lasts through it,
  UTC) or an ISO time.
- `revoke-grant EMAIL`: the comp ends now (CANCELED; the row stays).
- `show EMAIL`: the effective plan and every subscription row, comps with note and grantor.
- `inbox [--status PENDING|FAILED|IGNORED|PROCESSED] [--limit N]`: the webhook events that are
  stuck (PENDING and FAILED by default), oldest first, one per line: id, type, status,
  attempts, received at, last error.
- `replay EVENT_ID`: process one event again, now, in this process (no worker needed); FAILED,
  IGNORED and PENDING ones. A failure is printed and leaves it FAILED.

Each change announces the new entitlements on the person's stream (`service.subscription_changed`).
A failure is a `Problem` (the composition root prints `error: ...`, exit code 2). The database
side is imported when a command runs, like the other commands (`watchparty serve` loads none of
it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from watchparty.config import Settings, load_settings
from watchparty.errors import PlanId, ValidationProblem

if TYPE_CHECKING:
    from watchparty.billing.models import Subscription


def parse_until(raw: str) -> datetime:
    """ "2027-01-31" -> the end of that day (2027-02-01T00:00Z); an ISO time as given (UTC when
    it has no offset)."""
    text = raw.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1), time(), UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationProblem(
            f"--until {raw!r}: give a day (2027-01-31) or an ISO time.", field="until"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plan(raw: str) -> PlanId:
    try:
        return PlanId(raw.strip().upper())
    except ValueError:
        names = ", ".join(p.value for p in PlanId if p is not PlanId.FREE)
        raise ValidationProblem(f"Unknown plan {raw!r}: {names}.", field="plan") from None


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def describe(row: Subscription) -> str:
    parts = [
        f"{row.source.value.lower()} {row.plan.value} {row.status.value}",
        f"id {row.id}",
    ]
    if row.source.value == "COMP":
        parts.append(f"until {_when(row.comp_until)}")
        parts.append(f"granted by {row.granted_by or '?'} on {_when(row.created_at)}")
        if row.comp_note:
            parts.append(f"note: {row.comp_note}")
    else:
        parts.append(f"{row.stripe_subscription_id or '?'}")
        if row.interval is not None:
            parts.append(f"{row.interval.value.lower()}ly")
        parts.append(f"period end {_when(row.current_period_end)}")
        if row.cancel_at_period_end:
            parts.append("cancels at period end")
        if row.past_due_since is not None:
            parts.append(f"past due since {_when(row.past_due_since)}")
    return "; ".join(parts)


def _off_warning(settings: Settings) -> None:
    if not settings.billing_enabled:
        print("note: billing is off on this server (no STRIPE_SECRET_KEY): nothing is gated.")


async def _grant(args: argparse.Namespace) -> None:
    from watchparty.billing import service
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    plan, until = _plan(args.plan), parse_until(args.until)
    by = args.by or getpass.getuser()
    settings = load_settings()
    built = build_state(settings, functions=job_functions(), periodics=[])
    async with built as state, state.unit_of_work() as uow:
        row = await service.grant(uow, args.email, plan, until=until, note=args.note, granted_by=by)
        line = describe(row)
    print(f"granted {args.email}: {line}")
    _off_warning(settings)


async def _revoke(args: argparse.Namespace) -> None:
    from watchparty.billing import service
    from watchparty.registry import job_functions
    from watchparty.state import build_state

    built = build_state(load_settings(), functions=job_functions(), periodics=[])
    async with built as state, state.unit_of_work() as uow:
        row = await service.revoke_grant(uow, args.email)
        line = describe(row)
    print(f"revoked {args.email}: {line}")


async def _show(args: argparse.Namespace) -> None:
    from watchparty.billing import service
    from watchparty.billing.entitlements import effective
    from watchparty.kit.time import utcnow
    from watchparty.state import build_state

    settings = load_settings()
    built = build_state(settings, functions={}, periodics=[])
    async with built as state, state.sessionmaker() as session:
        user, rows = await service.user_and_subscriptions(session, args.email)
        now = await effective(session, user.id, settings, utcnow())
        lines = [describe(row) for row in rows]
    print(f"{user.email}: plan {now.plan.value}")
    for line in lines:
        print(f"  {line}")
    if not lines:
        print("  no subscriptions")
    _off_warning(settings)


def _run(command: str) -> Callable[[argparse.Namespace], int]:
    runners = {"grant": _grant, "revoke-grant": _revoke, "show": _show}

    def run(args: argparse.Namespace) -> int:
        asyncio.run(runners[command](args))
        return 0

    return run


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `billing` command group (the composition root's `cli.py` calls this)."""
    billing = sub.add_parser("billing", help="comps, what a person holds, the Stripe webhook inbox")
    commands = billing.add_subparsers(dest="billing_command", required=True)

    grant = commands.add_parser("grant", help="give an account a paid plan until a date (a comp)")
    grant.add_argument("email")
    grant.add_argument("plan", help="PLUS or PREMIUM")
    grant.add_argument("--until", required=True, help="a day (through its end, UTC) or an ISO time")
    grant.add_argument("--note", help="why (at most 500 characters)")
    grant.add_argument("--by", help="who grants it (default: the OS user)")
    grant.set_defaults(run=_run("grant"))

    revoke = commands.add_parser("revoke-grant", help="end an account's comp now")
    revoke.add_argument("email")
    revoke.set_defaults(run=_run("revoke-grant"))

    show = commands.add_parser("show", help="an account's plan and subscriptions")
    show.add_argument("email")
    show.set_defaults(run=_run("show"))

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
