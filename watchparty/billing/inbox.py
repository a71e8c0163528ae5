"""The webhook inbox: verifying a delivery, storing it once per event id, and finding the ones
whose processing job was lost. No HTTP, no GraphQL.

- Verification: `stripe.WebhookSignature.verify_header` (the `Stripe-Signature` header's
  `t=...,v1=...` HMAC-SHA256 of "t.payload"), tolerance 300 s, tried with every secret of
  STRIPE_WEBHOOK_SECRET (a rotation lists the new and the old one). Anything else is refused
  before the database is touched.
- Storing: INSERT ... ON CONFLICT DO NOTHING on the event id, so a duplicate delivery (also
  two at once on two API processes) is one row; only the delivery that inserted the row
  enqueues `process_stripe_event(event_id)` (after the commit, job id `stripe-event:<id>`).
- `sweep_stripe_events` (every minute) re-enqueues PENDING events older than a minute: their
  job was lost (Redis restarted empty) or is waiting for its retry (then the enqueue is a
  no-op: same job id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select

from watchparty.billing.models import InboxStatus, StripeEvent
from watchparty.config import Settings
from watchparty.db import UnitOfWork, upsert_insert
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.time import utcnow
from watchparty.state import AppState

TOLERANCE_SECONDS = 300
JOB = "process_stripe_event"
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 500


class RejectedDelivery(Exception):
    """A delivery that is not a verified Stripe event: 400, nothing stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    type: str
    created: datetime
    payload: dict[str, Any]


def job_id(event_id: str) -> str:
    return f"stripe-event:{event_id}"


def verify(settings: Settings, body: bytes, signature: str | None) -> Delivery:
    """The verified event of a delivery, or RejectedDelivery."""
    if not signature:
        raise RejectedDelivery("SIGNATURE_MISSING", "No Stripe-Signature header.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RejectedDelivery("PAYLOAD_INVALID", "The body is not UTF-8.") from None
    for secret in settings.stripe_webhook_secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            continue
        return _parse(text)
    raise RejectedDelivery(
        "SIGNATURE_INVALID",
        "The signature does not match any webhook secret, or its timestamp is too old.",
    )


def _parse(text: str) -> Delivery:
    try:
        event = json.loads(text)
    except ValueError:
        raise RejectedDelivery("PAYLOAD_INVALID", "The body is not JSON.") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise RejectedDelivery("PAYLOAD_INVALID", "The body is not a Stripe event.")
    event_id, kind, created = event.get("id"), event.get("type"), event.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise RejectedDelivery("PAYLOAD_INVALID", "The event has no valid id.")
    if not isinstance(kind, str) or not 0 < len(kind) <= 100:
        raise RejectedDelivery("PAYLOAD_INVALID", "The event has no valid type.")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise RejectedDelivery("PAYLOAD_INVALID", "The event has no valid created time.")
    try:
        when = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        raise RejectedDelivery("PAYLOAD_INVALID", "The event has no valid created time.") from None
    return Delivery(event_id, kind, when, event)


async def store(uow: UnitOfWork, delivery: Delivery) -> bool:
    """Insert the event unless it is there already; True when this delivery inserted it (and
    its job is enqueued after the commit)."""
    session = uow.session
    insert = upsert_insert(session)
    now = utcnow()
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(
            id=delivery.id,
            type=delivery.type,
            stripe_created_at=delivery.created,
            payload=delivery.payload,
            status=InboxStatus.PENDING,
            received_at=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    if inserted is None:
        return False
    enqueue_after_commit(uow, uow.app.jobs, JOB, job_id=job_id(delivery.id), event_id=delivery.id)
    return True


async def sweep_stripe_events(ctx: dict[str, Any]) -> int:
    """Re-enqueue PENDING events older than a minute (their job was lost, or waits for its
    retry: then the enqueue is ignored). Returns how many were found."""
    state: AppState = ctx["state"]
    async with state.sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(StripeEvent.id)
                .where(
                    StripeEvent.status == InboxStatus.PENDING,
                    StripeEvent.received_at < utcnow() - SWEEP_AFTER,
                )
                .order_by(StripeEvent.received_at)
                .limit(SWEEP_BATCH)
            )
        )
    for event_id in ids:
        await state.jobs.enqueue(JOB, job_id=job_id(event_id), event_id=event_id)
    return len(ids)
