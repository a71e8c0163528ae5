"""Outgoing email: an outbox directory in development and tests, SMTP in production.

Mail is only ever sent from the `send_email` job, enqueued after the change that needs it commits.
"""

from __future__ import annotations

import json
import logging
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib

from watchparty.config import EmailBackend, Settings
from watchparty.kit.time import utcnow

log = logging.getLogger(__name__)


def build_message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


async def deliver(settings: Settings, to: str, subject: str, body: str, *, kind: str) -> None:
    if settings.email_backend is EmailBackend.SMTP:
        await aiosmtplib.send(
            build_message(settings, to, subject, body),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            start_tls=settings.smtp_starttls,
        )
        return
    outbox = Path(settings.email_outbox_dir or settings.data_dir / "outbox")
    outbox.mkdir(parents=True, exist_ok=True)
    record = {
        "to": to,
        "subject": subject,
        "body": body,
        "kind": kind,
        "sent_at": utcnow().isoformat(),
    }
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
    tmp = outbox / f".{name}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.rename(outbox / name)  # readers never see a half-written message


async def send_email(ctx: dict[str, Any], *, to: str, subject: str, body: str, kind: str) -> None:
    """Job: deliver one email. Safe to retry (a duplicate mail is the worst case)."""
    settings: Settings = ctx["state"].settings
    await deliver(settings, to, subject, body, kind=kind)
    log.info("email sent", extra={"kind": kind})
