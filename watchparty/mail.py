"""Outgoing email: an outbox directory in development and tests, SMTP in production.

Mail is only ever sent from the `send_email` job, enqueued after the change that needs it commits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

from watchparty.config import EmailBackend, Settings
from watchparty.db import UnitOfWork
from watchparty.jobs import JobQueue, enqueue_after_commit
from watchparty.kit.time import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A message a service decided to send: `enqueue_mail` in its unit of work, sent only once
    the change commits.

    `job_id` is deterministic (derived from the row the mail is about), so a retried enqueue
    never sends the same message twice through ARQ.
    """

    to: str
    subject: str
    body: str
    kind: str
    job_id: str
    html: str | None = None  # an HTML alternative of `body`
    headers: dict[str, str] | None = None  # extra headers (List-Unsubscribe ...)


def enqueue_mail(uow: UnitOfWork, jobs: JobQueue, mail: OutgoingMail) -> None:
    """Send `mail` through the `send_email` job after `uow` commits (never for a rollback)."""
    enqueue_after_commit(
        uow,
        jobs,
        "send_email",
        job_id=mail.job_id,
        to=mail.to,
        subject=mail.subject,
        body=mail.body,
        kind=mail.kind,
        html=mail.html,
        headers=mail.headers,
    )


def build_message(
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def deliver(
    settings: Settings,
    to: str,
    subject: str,
    body: str,
    *,
    kind: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    if settings.email_backend is EmailBackend.SMTP:
        await aiosmtplib.send(
            build_message(settings, to, subject, body, html=html, headers=headers),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            start_tls=settings.smtp_starttls,
        )
        return
    record: dict[str, Any] = {
        "to": to,
        "subject": subject,
        "body": body,
        "kind": kind,
        "sent_at": utcnow().isoformat(),
    }
    if html is not None:
        record["html"] = html
    if headers:
        record["headers"] = headers
    outbox = Path(settings.email_outbox_dir or settings.data_dir / "outbox")
    await asyncio.to_thread(_write_outbox, outbox, record)


def _write_outbox(outbox: Path, record: dict[str, Any]) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
    tmp = outbox / f".{name}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.rename(outbox / name)  # readers never see a half-written message


async def send_email(
    ctx: dict[str, Any],
    *,
    to: str,
    subject: str,
    body: str,
    kind: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Job: deliver one email. Safe to retry (a duplicate mail is the worst case)."""
    settings: Settings = ctx["state"].settings
    await deliver(settings, to, subject, body, kind=kind, html=html, headers=headers)
    log.info("email sent", extra={"kind": kind})
