"""Notifications by email: instant emails, the daily digest and the one-click unsubscribe.

- Instant: `notify` marks an entry `email_due_at` and enqueues `email_notifications` after
  commit. The job re-reads the recipients' preferences (a change since still counts), enqueues
  one `send_email` per entry with a deterministic job id (`notification-email:<id>`), then
  claims the entries (`emailed_at`): an entry is mailed at most once even if the job runs twice.
  `send_due_emails` (every minute) picks up entries whose job was lost (Redis restarted empty,
  the API died between commit and enqueue) once they are a minute old; after a day they are
  dropped (old news).
- Daily digest: `send_daily_digests` (every 5 minutes) finds the users on DAILY whose local time
  is past `DIGEST_LOCAL_HOUR` and who had no digest today, and enqueues `email_digest` (one job
  per user and local date). It lists their unread, not yet mailed entries of the last day whose
  group has email on (at most `DIGEST_MAX_ENTRIES`, then "and N more"); nothing to list, no
  email.
- Recipients: active accounts with a verified address; security kinds go to an unverified
  address too (it is the only way to reach the owner).
- Every email carries a signed one-click unsubscribe link (RFC 8058: `List-Unsubscribe` and
  `List-Unsubscribe-Post`); POST turns email off for that kind's group (the digest's link sets
  the frequency to NEVER). Security emails have no unsubscribe: they cannot be turned off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import or_, select, update

from watchparty.accounts.models import User
from watchparty.config import Settings
from watchparty.kit.time import utcnow
from watchparty.mail import OutgoingMail
from watchparty.notifications import preferences
from watchparty.notifications.models import (
    EmailFrequency,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from watchparty.notifications.preferences import Channel, NotificationGroup, Preferences

if TYPE_CHECKING:
    from watchparty.state import AppState

log = logging.getLogger(__name__)

EMAIL_JOB = "email_notifications"
DIGEST_JOB = "email_digest"
SEND_EMAIL_JOB = "send_email"
SWEEP_AFTER = timedelta(minutes=1)  # an instant email's job is presumed lost after this
EMAIL_MAX_AGE = timedelta(days=1)  # older than this, an instant email is not sent any more
SWEEP_BATCH = 200
DIGEST_MAX_ENTRIES = 20
DIGEST_WINDOW = timedelta(days=1)
GROUP_LABELS = {
    NotificationGroup.PARTIES: "party invitations and membership",
    NotificationGroup.REMINDERS: "party reminders",
    NotificationGroup.CHAT: "mentions and replies",
    NotificationGroup.POLLS: "polls",
    NotificationGroup.VIDEOS: "your videos",
    NotificationGroup.SECURITY: "account security",
    NotificationGroup.BILLING: "billing",
    NotificationGroup.ANNOUNCEMENTS: "announcements",
}
DIGEST = "DIGEST"  # the unsubscribe scope of a digest


# -- unsubscribe links --------------------------------------------------------------------------


def _unsubscribe_key(secret: str) -> bytes:
    return hashlib.sha256(b"watchparty-unsubscribe:" + secret.encode()).digest()


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(_unsubscribe_key(secret), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def unsubscribe_token(settings: Settings, user_id: uuid.UUID, scope: str) -> str:
    """`<user id>.<group or DIGEST>.<signature>`: no expiry (links in old emails keep working);
    signed with the active JWT key, checked against every configured one."""
    payload = f"{user_id}.{scope}"
    return f"{payload}.{_sign(settings.signing_keys[settings.jwt_active_kid], payload)}"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    user_id: uuid.UUID
    group: NotificationGroup | None  # None: the digest


def read_unsubscribe_token(settings: Settings, token: str) -> Unsubscribe | None:
    """The link's user and scope, or None when it is malformed or not ours."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        return None
    user_raw, scope, signature = parts
    payload = f"{user_raw}.{scope}"
    if not any(
        hmac.compare_digest(_sign(secret, payload), signature)
        for secret in settings.signing_keys.values()
    ):
        return None
    try:
        user_id = uuid.UUID(user_raw)
        group = None if scope == DIGEST else NotificationGroup(scope)
    except ValueError:
        return None
    if group in preferences.LOCKED:
        return None
    return Unsubscribe(user_id, group)


def unsubscribe_url(settings: Settings, user_id: uuid.UUID, scope: str) -> str:
    token = unsubscribe_token(settings, user_id, scope)
    return f"{settings.public_url.rstrip('/')}/notifications/unsubscribe?token={quote(token)}"


# -- rendering ----------------------------------------------------------------------------------


def _link(settings: Settings, path: str | None) -> str:
    return settings.frontend_url.rstrip("/") + (path or "/notifications")


def _headers(url: str | None) -> dict[str, str]:
    if url is None:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _footer_text(url: str | None, label: str) -> str:
    if url is None:
        return f"\n\n--\nEvery account gets {label} emails; they cannot be turned off."
    return f"\n\n--\nYou get these emails for {label}. Unsubscribe: {url}"


def _footer_html(url: str | None, label: str) -> str:
    if url is None:
        return (
            f'<p style="color:#666;font-size:12px">Every account gets {html.escape(label)} '
            "emails; they cannot be turned off.</p>"
        )
    return (
        f'<p style="color:#666;font-size:12px">You get these emails for {html.escape(label)}. '
        f'<a href="{html.escape(url)}">Unsubscribe</a></p>'
    )


def notification_mail(settings: Settings, to: str, row: Notification) -> OutgoingMail:
    """One entry as an email: its title as the subject, its body and a link to open it."""
    group = preferences.group_of(row.kind)
    label = GROUP_LABELS[group]
    url = (
        None if group in preferences.LOCKED else unsubscribe_url(settings, row.recipient_id, group)
    )
    link = _link(settings, row.action_path)
    text = f"{row.title}\n\n{row.body}\n\nOpen: {link}".replace("\n\n\n\n", "\n\n")
    page = (
        f"<h2>{html.escape(row.title)}</h2>"
        + (f"<p>{html.escape(row.body)}</p>" if row.body else "")
        + f'<p><a href="{html.escape(link)}">Open in WatchParty</a></p>'
    )
    return OutgoingMail(
        to=to,
        subject=row.title,
        body=text + _footer_text(url, label),
        kind=f"notification:{row.kind.value}",
        job_id=f"notification-email:{row.id}",
        html=page + _footer_html(url, label),
        headers=_headers(url),
    )


def digest_mail(
    settings: Settings, to: str, user_id: uuid.UUID, day: date, rows: list[Notification], more: int
) -> OutgoingMail:
    url = unsubscribe_url(settings, user_id, DIGEST)
    count = len(rows) + more
    subject = f"Your WatchParty digest: {count} new notification{'s' if count != 1 else ''}"
    lines = [f"- {row.title}: {_link(settings, row.action_path)}" for row in rows]
    items = "".join(
        f'<li><a href="{html.escape(_link(settings, row.action_path))}">'
        f"{html.escape(row.title)}</a>" + (f"<br>{html.escape(row.body)}" if row.body else "")
        for row in rows
    )
    tail = f"\n… and {more} more: {_link(settings, None)}" if more else ""
    tail_html = (
        f'<p>… and {more} more: <a href="{html.escape(_link(settings, None))}">see all</a></p>'
        if more
        else ""
    )
    return OutgoingMail(
        to=to,
        subject=subject,
        body="\n".join([subject, "", *lines]) + tail + _footer_text(url, "a daily digest"),
        kind="notification:DIGEST",
        job_id=f"notification-digest:{user_id}:{day.isoformat()}",
        html=f"<h2>{html.escape(subject)}</h2><ul>{items}</ul>{tail_html}"
        + _footer_html(url, "a daily digest"),
        headers=_headers(url),
    )


def _mail_kwargs(mail: OutgoingMail) -> dict[str, Any]:
    return {
        "to": mail.to,
        "subject": mail.subject,
        "body": mail.body,
        "kind": mail.kind,
        "html": mail.html,
        "headers": mail.headers,
    }


def _reachable(user: User, kind: NotificationKind) -> bool:
    if not user.is_active:
        return False
    return user.email_verified_at is not None or preferences.group_of(kind) in preferences.LOCKED


# -- jobs ---------------------------------------------------------------------------------------


async def email_notifications(ctx: dict[str, Any], *, notification_ids: list[str]) -> int:
    """Job: the instant emails of these entries (those still due); how many were enqueued."""
    state: AppState = ctx["state"]
    ids = [uuid.UUID(raw) for raw in notification_ids]
    now = utcnow()
    async with state.sessionmaker() as session:
        found: list[Any] = list(
            (
                await session.execute(
                    select(Notification, User)
                    .join(User, User.id == Notification.recipient_id)
                    .where(
                        Notification.id.in_(ids),
                        Notification.email_due_at.is_not(None),
                        Notification.emailed_at.is_(None),
                    )
                )
            ).all()
        )
        settings_of = await preferences.load_many(session, [user.id for _, user in found])
    mails: list[tuple[uuid.UUID, OutgoingMail | None]] = []
    for row, user in found:
        prefs = settings_of[user.id]
        wanted = (
            _reachable(user, row.kind)
            and now - row.created_at < EMAIL_MAX_AGE
            and _still_instant(prefs, row.kind, now)
        )
        mail = notification_mail(state.settings, user.email, row) if wanted else None
        mails.append((row.id, mail))
    for _, mail in mails:
        if mail is not None:  # idempotent: ARQ ignores a job id it already has
            await state.jobs.enqueue(SEND_EMAIL_JOB, job_id=mail.job_id, **_mail_kwargs(mail))
    if mails:
        async with state.unit_of_work() as uow:
            await _claim(uow.session, [i for i, _ in mails], now)
    return sum(1 for _, mail in mails if mail is not None)


def _still_instant(prefs: Preferences, kind: NotificationKind, now: datetime) -> bool:
    if preferences.group_of(kind) in preferences.LOCKED:
        return True
    return (
        prefs.wants(kind, Channel.EMAIL)
        and prefs.email_frequency is EmailFrequency.INSTANT
        and not prefs.paused(now)
    )


async def send_due_emails(ctx: dict[str, Any]) -> int:
    """Periodic: enqueue the instant emails whose job was lost; how many entries it found."""
    state: AppState = ctx["state"]
    now = utcnow()
    async with state.sessionmaker() as session:
        due = list(
            await session.scalars(
                select(Notification.id)
                .where(
                    Notification.email_due_at.is_not(None),
                    Notification.emailed_at.is_(None),
                    Notification.email_due_at < now - SWEEP_AFTER,
                    Notification.email_due_at > now - EMAIL_MAX_AGE,
                )
                .order_by(Notification.email_due_at)
                .limit(SWEEP_BATCH)
            )
        )
    if due:
        ids = [str(i) for i in due]
        await state.jobs.enqueue(
            EMAIL_JOB, job_id=f"{EMAIL_JOB}:sweep:{ids[0]}", notification_ids=ids
        )
    return len(due)


def _local_day(prefs: Preferences, now: datetime) -> date | None:
    """Today's date in the user's zone once the digest hour has passed there, else None."""
    local = now.astimezone(prefs.zone)
    return local.date() if local.hour >= preferences.DIGEST_LOCAL_HOUR else None


async def send_daily_digests(ctx: dict[str, Any]) -> int:
    """Periodic: enqueue today's digest of every DAILY user whose digest hour has passed."""
    state: AppState = ctx["state"]
    now = utcnow()
    async with state.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(NotificationPreference).where(
                    NotificationPreference.email_frequency == EmailFrequency.DAILY
                )
            )
        )
    enqueued = 0
    for row in rows:
        day = _local_day(preferences.effective(row), now)
        if day is None or (row.digest_sent_on is not None and row.digest_sent_on >= day):
            continue
        job_id = f"{DIGEST_JOB}:{row.user_id}:{day.isoformat()}"
        if await state.jobs.enqueue(DIGEST_JOB, job_id=job_id, user_id=str(row.user_id), day=day):
            enqueued += 1
    return enqueued


async def email_digest(ctx: dict[str, Any], *, user_id: str, day: str) -> int:
    """Job: one user's digest for `day` (their local date); how many entries it listed. At
    most one per user and day: the mail's job id is deterministic and the day is claimed."""
    state: AppState = ctx["state"]
    uid, when = uuid.UUID(user_id), date.fromisoformat(day)
    now = utcnow()
    async with state.sessionmaker() as session:
        user = await session.get(User, uid)
        row = await session.get(NotificationPreference, uid)
        if user is None or row is None or (row.digest_sent_on or date.min) >= when:
            return 0
        prefs = preferences.effective(row)
        candidates = list(
            await session.scalars(
                select(Notification)
                .where(
                    Notification.recipient_id == uid,
                    Notification.read_at.is_(None),
                    Notification.emailed_at.is_(None),
                    Notification.expires_at > now,
                    Notification.created_at > now - DIGEST_WINDOW,
                )
                .order_by(Notification.updated_at.desc(), Notification.id.desc())
                .limit(500)
            )
        )
    listed = [
        r for r in candidates if prefs.wants(r.kind, Channel.EMAIL) and _reachable(user, r.kind)
    ]
    if listed and prefs.email_frequency is EmailFrequency.DAILY:
        shown = listed[:DIGEST_MAX_ENTRIES]
        mail = digest_mail(state.settings, user.email, uid, when, shown, len(listed) - len(shown))
        await state.jobs.enqueue(SEND_EMAIL_JOB, job_id=mail.job_id, **_mail_kwargs(mail))
    async with state.unit_of_work() as uow:
        await uow.session.execute(
            update(NotificationPreference)
            .where(
                NotificationPreference.user_id == uid,
                or_(
                    NotificationPreference.digest_sent_on.is_(None),
                    NotificationPreference.digest_sent_on < when,
                ),
            )
            .values(digest_sent_on=when)
            .execution_options(synchronize_session=False)
        )
        if listed:
            await _claim(uow.session, [r.id for r in listed], now)
    return len(listed)


async def _claim(session: Any, ids: Iterable[uuid.UUID], now: datetime) -> None:
    await session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.emailed_at.is_(None))
        .values(emailed_at=now)
        .execution_options(synchronize_session=False)
    )
