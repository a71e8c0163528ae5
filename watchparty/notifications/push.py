"""Push delivery: the ARQ job that sends notifications to their recipients' devices via FCM.

`notify` enqueues one `push_notifications` job per batch it writes (after the commit, only
when push is configured), with a job id derived from the batch's notification ids. A run:

1. loads the batch's notifications that are still unread and unexpired, asks
   `delivery_policy.push_targets` which to push now, and finds their recipients' devices
   (a device whose sign-in was revoked or expired is skipped);
2. **claims** each (notification, token) pair it will send, in one transaction committed
   before anything is sent: a new `push_deliveries` row in state SENDING (INSERT ... ON
   CONFLICT DO NOTHING on the pair's unique key), or a RETRY row of an earlier run moved to
   SENDING by a conditional UPDATE. A pair with any other record is never sent again;
3. sends the claimed pushes (at most 500 per FCM call), then records each outcome: SENT,
   FAILED with FCM's code (an UNREGISTERED / SENDER_ID_MISMATCH / INVALID_ARGUMENT-token answer
   also deletes the device), or RETRY for a transient failure (UNAVAILABLE, INTERNAL,
   QUOTA_EXCEEDED, a timeout);
4. raises arq's `Retry` when anything is RETRY, deferred by the job's backoff (2, 4, 8, 16 s) or
   FCM's Retry-After when longer, at most PUSH_RETRY_MAX_SECONDS. The next run claims only the
   RETRY pairs (and devices registered meanwhile); what was sent is never resent. On the
   job's last try transient failures are recorded FAILED instead.

**At most once.** The claim commits before the send, so two runs of one batch (a duplicate job,
a retry racing a slow run) never send a pair twice. A worker killed mid-send leaves its claimed
pairs SENDING, and nobody sends those again: a lost push is preferred to a doubled one (the
phone buzzing twice for one reply). A push whose FCM answer was lost in transit (a timeout) is
retried: FCM may have delivered it, and the collapse key makes a duplicate replace the first
banner rather than stack.

**Lost jobs.** A job can be lost between the commit and Redis (the API process died with it
in its memory buffer while Redis was down; a Redis without persistence restarted). The
periodic `send_due_pushes` (every minute) finds entries that would have been pushed and were
not: unread, unexpired, updated more than `SWEEP_AFTER` (1 minute) ago and less than their
push TTL ago, without any `push_deliveries` row, whose recipient has a live device registered
before the entry's last update; passes them through `push_targets` (so a group with push off,
a pause or quiet hours keep them out) and enqueues `push_notifications` for them. The claims
keep a job the sweep doubles from sending anything twice.

A collapsed entry that grows keeps its id: its recipient's devices are not pushed again while
it stays unread (the banner already says something is waiting; the feed has the count). Once
read, the group's next entry is a new notification, pushed again under the same collapse key.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from arq.worker import Retry
from sqlalchemy import and_, delete, exists, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from watchparty.accounts.models import AuthSession
from watchparty.config import Settings
from watchparty.db import UnitOfWork, upsert_insert
from watchparty.jobs import MAX_TRIES, enqueue_after_commit, retry_delay_seconds
from watchparty.kit.time import utcnow
from watchparty.notifications import fcm
from watchparty.notifications.delivery_policy import push_targets
from watchparty.notifications.models import (
    Notification,
    NotificationKind,
    PushDelivery,
    PushDeliveryState,
    PushDevice,
)
from watchparty.notifications.render import push_ttl

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

PUSH_JOB = "push_notifications"
INSERT_CHUNK = 500  # claim rows per INSERT (7 parameters each)
SWEEP_AFTER = timedelta(minutes=1)  # a push job is presumed lost after this
SWEEP_PAGE = 500  # entries per sweep query, and per job it enqueues
SWEEP_MAX_PAGES = 20  # per run; the rest waits for the next minute

S = PushDeliveryState


def push_job_id(notification_ids: Sequence[str]) -> str:
    """The same batch is the same job (ARQ ignores a second one while the first is known)."""
    digest = hashlib.sha256(",".join(sorted(notification_ids)).encode()).hexdigest()
    return f"{PUSH_JOB}:{digest[:32]}"


def enqueue_push(uow: UnitOfWork, rows: Sequence[Notification]) -> None:
    """After the commit of `uow`, push `rows` (a no-op when push is not configured)."""
    state = uow.state
    if state is None or not state.settings.push_enabled or not rows:
        return
    ids = sorted({str(row.id) for row in rows})
    enqueue_after_commit(uow, state.jobs, PUSH_JOB, job_id=push_job_id(ids), notification_ids=ids)


def _live_session(now: datetime) -> Any:
    """A device whose sign-in is neither revoked nor expired (or that has none)."""
    return or_(
        PushDevice.auth_session_id.is_(None),
        and_(AuthSession.revoked_at.is_(None), AuthSession.expires_at > now),
    )


async def send_due_pushes(ctx: dict[str, Any]) -> int:
    """Periodic: enqueue the pushes whose job was lost (see the module); how many entries."""
    state: AppState = ctx["state"]
    if not state.settings.push_enabled:
        return 0
    now = utcnow()
    window = max(push_ttl(kind) for kind in NotificationKind)
    has_device = exists(
        select(PushDevice.id)
        .outerjoin(AuthSession, AuthSession.id == PushDevice.auth_session_id)
        .where(
            PushDevice.user_id == Notification.recipient_id,
            PushDevice.created_at <= Notification.updated_at,
            _live_session(now),
        )
    )
    never_claimed = ~exists(
        select(PushDelivery.id).where(PushDelivery.notification_id == Notification.id)
    )
    query = (
        select(Notification)
        .where(
            Notification.read_at.is_(None),
            Notification.expires_at > now,
            Notification.updated_at > now - window,
            Notification.updated_at <= now - SWEEP_AFTER,
            never_claimed,
            has_device,
        )
        .order_by(Notification.updated_at, Notification.id)
        .limit(SWEEP_PAGE)
    )
    found = 0
    after: tuple[datetime, uuid.UUID] | None = None
    for _ in range(SWEEP_MAX_PAGES):
        async with state.sessionmaker() as session:
            page_query = query
            if after is not None:
                page_query = query.where(tuple_(Notification.updated_at, Notification.id) > after)
            rows = list(await session.scalars(page_query))
            if not rows:
                break
            after = (rows[-1].updated_at, rows[-1].id)
            live = [row for row in rows if push_ttl(row.kind) > now - row.updated_at]
            due = (await push_targets(session, live, now)).now if live else []
        if due:
            ids = sorted(str(row.id) for row in due)
            job_id = f"{push_job_id(ids)}:sweep"
            await state.jobs.enqueue(PUSH_JOB, job_id=job_id, notification_ids=ids)
            found += len(ids)
        if len(rows) < SWEEP_PAGE:
            break
    if found:
        log.warning("re-queued pushes whose job was lost", extra={"notifications": found})
    return found


@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: uuid.UUID
    push: fcm.Push


async def push_notifications(ctx: dict[str, Any], *, notification_ids: list[str]) -> dict[str, int]:
    """The job: push these notifications to their recipients' devices, at most once each."""
    state: AppState = ctx["state"]
    settings = state.settings
    if not settings.push_enabled:
        return {"claimed": 0}
    job_try = int(ctx.get("job_try") or 1)
    ids = [uuid.UUID(raw) for raw in notification_ids]
    sender = fcm.Sender(settings)
    await sender.ready()  # a failing OAuth endpoint fails the run before anything is claimed
    now = utcnow()
    held: dict[datetime, list[Notification]] = {}
    async with state.unit_of_work() as uow:
        claims = await _claim(uow.session, settings, ids, now, held)
    for until, rows in held.items():  # quiet hours: this job again when they end
        later = sorted(str(row.id) for row in rows)
        job_id = f"{push_job_id(later)}:at:{int(until.timestamp())}"
        wait = (until - now).total_seconds()
        await state.jobs.enqueue(
            PUSH_JOB, job_id=job_id, defer_seconds=wait, notification_ids=later
        )
    if not claims:
        waiting = sum(len(rows) for rows in held.values())
        return {"claimed": 0, "held": waiting} if waiting else {"claimed": 0}
    outcomes = await sender.send([claim.push for claim in claims])
    give_up = job_try >= MAX_TRIES
    async with state.unit_of_work() as uow:
        summary = await _settle(uow.session, claims, outcomes, utcnow(), give_up=give_up)
    transient = [o for o in outcomes if o.kind is fcm.OutcomeKind.TRANSIENT]
    if transient and not give_up:
        waits = [o.retry_after_seconds for o in transient if o.retry_after_seconds is not None]
        defer = min(settings.push_retry_max_seconds, max([retry_delay_seconds(job_try), *waits]))
        log.warning(
            "FCM failed for a moment; retrying those pushes",
            extra={"retrying": len(transient), "defer_seconds": defer, "job_try": job_try},
        )
        raise Retry(defer=defer)
    return summary


async def _claim(
    session: AsyncSession,
    settings: Settings,
    ids: list[uuid.UUID],
    now: datetime,
    held: dict[datetime, list[Notification]],
) -> list[Claim]:
    """Claim (and commit, by the caller) every pair this run will send; `held` receives the
    rows to push later (quiet hours), by when."""
    rows = list(
        await session.scalars(
            select(Notification).where(
                Notification.id.in_(ids),
                Notification.read_at.is_(None),
                Notification.expires_at > now,
            )
        )
    )
    targets = await push_targets(session, rows, now)
    held.update(targets.held)
    rows = targets.now
    if not rows:
        return []
    live_session = _live_session(now)
    devices = await session.execute(
        select(PushDevice.user_id, PushDevice.token)
        .outerjoin(AuthSession, AuthSession.id == PushDevice.auth_session_id)
        .where(PushDevice.user_id.in_({row.recipient_id for row in rows}), live_session)
    )
    tokens: dict[uuid.UUID, list[str]] = defaultdict(list)
    for user_id, token in devices:
        tokens[user_id].append(token)
    plan: dict[tuple[uuid.UUID, str], fcm.Push] = {}
    for row in rows:
        ttl = push_ttl(row.kind) - (now - row.updated_at)
        if ttl <= timedelta(0):
            continue  # too late to be worth a banner
        for token in tokens.get(row.recipient_id, ()):
            plan[(row.id, token)] = _push(row, token, ttl, settings)
    if not plan:
        return []

    claims: list[Claim] = []
    # An earlier run's transient failures: claimed again (one run wins a row).
    retry_rows = (
        await session.execute(
            select(PushDelivery.id, PushDelivery.notification_id, PushDelivery.token).where(
                PushDelivery.notification_id.in_({key[0] for key in plan}),
                PushDelivery.state == S.RETRY,
            )
        )
    ).all()
    again = [r.id for r in retry_rows if (r.notification_id, r.token) in plan]
    if again:
        reclaimed = await session.execute(
            update(PushDelivery)
            .where(PushDelivery.id.in_(again), PushDelivery.state == S.RETRY)
            .values(state=S.SENDING, attempts=PushDelivery.attempts + 1, updated_at=now)
            .returning(PushDelivery.id, PushDelivery.notification_id, PushDelivery.token)
            .execution_options(synchronize_session=False)
        )
        claims += [Claim(d_id, plan[(n_id, token)]) for d_id, n_id, token in reclaimed]
    # Pairs without any record yet.
    known = {(r.notification_id, r.token) for r in retry_rows}
    fresh = [key for key in plan if key not in known]
    upsert = upsert_insert(session)
    for start in range(0, len(fresh), INSERT_CHUNK):
        values = [
            {
                "id": uuid.uuid4(),
                "notification_id": n_id,
                "token": token,
                "state": S.SENDING,
                "attempts": 1,
                "created_at": now,
                "updated_at": now,
            }
            for n_id, token in fresh[start : start + INSERT_CHUNK]
        ]
        inserted = await session.execute(
            upsert(PushDelivery)
            .values(values)
            .on_conflict_do_nothing(index_elements=["notification_id", "token"])
            .returning(PushDelivery.id, PushDelivery.notification_id, PushDelivery.token)
        )
        claims += [Claim(d_id, plan[(n_id, token)]) for d_id, n_id, token in inserted]
    return claims


def _push(row: Notification, token: str, ttl: timedelta, settings: Settings) -> fcm.Push:
    data = {"notificationId": str(row.id), "kind": row.kind.value}
    if row.action_path:
        data["actionPath"] = row.action_path
    front = settings.frontend_url.rstrip("/")
    # Web Push opens only https links (firebase-admin refuses others): none in development.
    link = front + (row.action_path or "/") if front.startswith("https://") else None
    return fcm.Push(
        token=token,
        title=row.title,
        body=row.body,
        data=data,
        link=link,
        collapse_key=None if row.group_key is None else fcm.collapse_key(row.group_key),
        ttl=ttl,
    )


async def _settle(
    session: AsyncSession,
    claims: list[Claim],
    outcomes: list[fcm.Outcome],
    now: datetime,
    *,
    give_up: bool,
) -> dict[str, int]:
    """Record every claimed pair's outcome; delete the devices FCM says are gone."""
    K = fcm.OutcomeKind
    changes: list[dict[str, Any]] = []
    dead: set[str] = set()
    summary = {"claimed": len(claims), "sent": 0, "removed": 0, "retrying": 0, "failed": 0}
    for claim, outcome in zip(claims, outcomes, strict=True):
        if outcome.kind is K.SENT:
            new_state = S.SENT
            summary["sent"] += 1
        elif outcome.kind is K.TRANSIENT and not give_up:
            new_state = S.RETRY
            summary["retrying"] += 1
        else:
            new_state = S.FAILED
            summary["failed"] += 1
            if outcome.kind is K.DEAD:
                dead.add(claim.push.token)
        changes.append(
            {
                "id": claim.delivery_id,
                "state": new_state,
                "error": outcome.code,
                "message_id": outcome.message_id,
                "updated_at": now,
            }
        )
    await session.execute(update(PushDelivery), changes)  # by primary key, one executemany
    if dead:
        removed = await session.scalars(
            delete(PushDevice)
            .where(PushDevice.token.in_(dead))
            .returning(PushDevice.id)
            .execution_options(synchronize_session=False)
        )
        summary["removed"] = len(list(removed))
    return summary
