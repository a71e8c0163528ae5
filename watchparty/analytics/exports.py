"""Exports (GraphQL-free): `requestAnalyticsExport` makes an EXPORT `AnalyticsJob`, the ARQ job
`export_analytics` writes the file to the media storage, and a signed, expiring URL served by
the app (`http/analytics_exports.py`) hands it to its owner.

- Who may export what is the same as who may read it: PARTY its hosts and co-hosts, VIDEO its
  owner, ME anyone signed in (their own figures), SYSTEM staff. Requests are rate limited per
  user (`RATE_LIMIT_ANALYTICS_EXPORTS`) and their ranges bounded (`ranges`).
- Content: PARTY the minutes of the party's curve in the range (only minutes with activity);
  VIDEO, ME and SYSTEM one row per day of the range (days without figures are zeros). CSV with
  a header line, or JSON `{"scope", "targetId", "from", "to", "rows": [...]}`.
- Files are kept `ANALYTICS_EXPORT_RETENTION_HOURS` after the job finished, then purged
  (`purge_analytics_exports`, every 10 minutes); a URL is valid
  `ANALYTICS_EXPORT_URL_TTL_SECONDS` and never past the file's retention.
- The job is idempotent: a finished job is left alone; a re-run writes the same file again.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from watchparty.accounts.models import User
from watchparty.analytics import reading, runs
from watchparty.analytics.models import (
    AnalyticsJob,
    ExportFormat,
    ExportScope,
    JobKind,
    PartyMinute,
    PartyStats,
)
from watchparty.analytics.ranges import MAX_EXPORT_PARTY_DAYS, DayRange, day_range
from watchparty.db import UnitOfWork
from watchparty.errors import NotAllowed, NotFound, Problem, ValidationProblem
from watchparty.jobs import enqueue_after_commit
from watchparty.kit.ratelimit import Limit
from watchparty.kit.time import utcnow
from watchparty.parties.authz import load_party, require_role
from watchparty.parties.models import MemberRole
from watchparty.videos.errors import owner_only
from watchparty.videos.service import load_visible
from watchparty.videos.signing import expiry, sign
from watchparty.videos.storage import get_storage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from watchparty.config import Settings
    from watchparty.state import AppState

log = logging.getLogger(__name__)

EXPORT_JOB = "export_analytics"
EXPORT_PURPOSE = "analytics-export"  # the signing purpose of download URLs
PAGE_ROWS = 5000  # party minutes read (and progress advanced) per page
PURGE_BATCH = 100
CONTENT_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSON: "application/json"}

PARTY_COLUMNS = (
    "minute",
    "joins",
    "leaves",
    "viewers",
    "chat_messages",
    "reactions",
    "buffering_events",
)
VIDEO_COLUMNS = ("day", "views", "unique_viewers", "watch_seconds", "completions")
USER_COLUMNS = ("day", *reading.USER_COLUMNS)
SYSTEM_COLUMNS = ("day", *reading.SYSTEM_COLUMNS)
COLUMNS = {
    ExportScope.PARTY: PARTY_COLUMNS,
    ExportScope.VIDEO: VIDEO_COLUMNS,
    ExportScope.ME: USER_COLUMNS,
    ExportScope.SYSTEM: SYSTEM_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    scope: ExportScope
    target_id: str | None
    first: date | None
    last: date | None
    format: ExportFormat


async def authorize(
    session: AsyncSession, viewer: User, scope: ExportScope, raw_target: str | None
) -> uuid.UUID | None:
    """The export's target (a party or video id; None for ME and SYSTEM) if `viewer` may read
    it: the read fields' rules. NotFound for what the viewer may not even see."""
    if scope in (ExportScope.PARTY, ExportScope.VIDEO) and not raw_target:
        raise ValidationProblem("`targetId` is required for this scope.", field="targetId")
    if scope in (ExportScope.ME, ExportScope.SYSTEM) and raw_target:
        raise ValidationProblem("`targetId` is only for PARTY and VIDEO.", field="targetId")
    if scope is ExportScope.PARTY:
        access = await load_party(session, str(raw_target), viewer.id)
        require_role(access, MemberRole.COHOST)
        return access.party.id
    if scope is ExportScope.VIDEO:
        video = await load_visible(session, str(raw_target), viewer.id, field="targetId")
        if video.owner_id != viewer.id:
            raise owner_only()
        return video.id
    if scope is ExportScope.SYSTEM and not viewer.is_staff:
        raise NotAllowed("Only staff may read the system's figures.")
    return None


async def _party_days(
    session: AsyncSession, party_id: uuid.UUID, first: date | None, last: date | None
) -> DayRange:
    if first is None and last is None:
        stats = await session.get(PartyStats, party_id)
        if stats is not None and stats.first_event_at and stats.last_event_at:
            first, last = stats.first_event_at.date(), stats.last_event_at.date()
            if (last - first).days >= MAX_EXPORT_PARTY_DAYS:
                first = last - timedelta(days=MAX_EXPORT_PARTY_DAYS - 1)
    return day_range(first, last, max_days=MAX_EXPORT_PARTY_DAYS, default_days=1)


async def request_export(uow: UnitOfWork, viewer: User, request: ExportRequest) -> AnalyticsJob:
    """A QUEUED export job of the viewer's; its ARQ job is enqueued after the commit."""
    settings = uow.app.settings
    await uow.app.limiter.hit(
        f"analytics:export:{viewer.id}", Limit.parse(settings.rate_limit_analytics_exports)
    )
    target = await authorize(uow.session, viewer, request.scope, request.target_id)
    if request.scope is ExportScope.PARTY:
        assert target is not None
        days = await _party_days(uow.session, target, request.first, request.last)
    else:
        days = day_range(request.first, request.last)
    params = {
        "from": days.first.isoformat(),
        "to": days.last.isoformat(),
        "format": request.format.value,
    }
    job = await runs.create(
        uow,
        JobKind.EXPORT,
        request.scope.value,
        owner_id=viewer.id,
        target_id=target,
        params=params,
    )
    enqueue_after_commit(
        uow, uow.app.jobs, EXPORT_JOB, job_id=f"{EXPORT_JOB}:{job.id}", analytics_job_id=str(job.id)
    )
    return job


async def visible_job(
    session: AsyncSession, raw_id: str, viewer_id: uuid.UUID | None
) -> AnalyticsJob:
    """The viewer's own job; NotFound for anything else (someone else's, the system's, none)."""
    try:
        job_id = uuid.UUID(str(raw_id))
    except ValueError:
        raise NotFound("Job not found.", field="id") from None
    job = await session.get(AnalyticsJob, job_id)
    if job is None or viewer_id is None or job.owner_id != viewer_id:
        raise NotFound("Job not found.", field="id")
    return job


# --- the download URL ----------------------------------------------------------------------


def file_expires_at(settings: Settings, finished_at: datetime | None) -> datetime | None:
    if finished_at is None:
        return None
    return finished_at + timedelta(hours=settings.analytics_export_retention_hours)


def download_url(
    settings: Settings, job_id: uuid.UUID | str, *, has_file: bool, finished_at: datetime | None
) -> str | None:
    """A signed URL of the job's file while it is kept (None before it exists and after)."""
    kept_until = file_expires_at(settings, finished_at)
    if not has_file or kept_until is None or kept_until <= utcnow():
        return None
    ttl = settings.analytics_export_url_ttl_seconds
    expires = min(expiry(ttl), int(kept_until.timestamp()))
    token = sign(settings, EXPORT_PURPOSE, str(job_id), expires)
    return f"{settings.public_url.rstrip('/')}/analytics/exports/{job_id}?token={token}"


def filename(job: AnalyticsJob) -> str:
    fmt = ExportFormat(job.params.get("format", "CSV"))
    first, last = job.params.get("from", ""), job.params.get("to", "")
    return f"watchparty-{job.scope.lower()}-{first}-{last}.{fmt.value.lower()}"


# --- the job -----------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class _Writer:
    """Rows to a file as CSV (header first) or JSON (an object whose `rows` is a list)."""

    def __init__(self, path: Path, fmt: ExportFormat, columns: Sequence[str], head: dict[str, Any]):
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.fmt = fmt
        self.columns = columns
        self.count = 0
        if fmt is ExportFormat.CSV:
            self.csv = csv.writer(self.handle, lineterminator="\n")
            self.csv.writerow(columns)
        else:
            opening = json.dumps(head, separators=(",", ":"))[:-1]
            self.handle.write(opening + ',"rows":[')

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            values = [_cell(row[c]) for c in self.columns]
            if self.fmt is ExportFormat.CSV:
                self.csv.writerow(values)
            else:
                text = json.dumps(
                    dict(zip(self.columns, values, strict=True)), separators=(",", ":")
                )
                self.handle.write(("," if self.count else "") + text)
            self.count += 1

    def close(self) -> None:
        if self.fmt is ExportFormat.JSON:
            self.handle.write("]}")
        self.handle.close()


async def _day_rows(
    session: AsyncSession, job: AnalyticsJob, days: DayRange
) -> list[dict[str, Any]]:
    scope = ExportScope(job.scope)
    if scope is ExportScope.VIDEO:
        assert job.target_id is not None
        return [asdict(d) for d in await reading.video_days(session, job.target_id, days)]
    if scope is ExportScope.ME:
        assert job.owner_id is not None
        return [asdict(d) for d in await reading.user_days(session, job.owner_id, days)]
    return [asdict(d) for d in await reading.system_days(session, days)]


async def _write_rows(state: AppState, job_id: uuid.UUID, writer: _Writer) -> int:
    """Every row into `writer`, advancing the job's progress once per page."""
    async with state.sessionmaker() as session:
        job = await session.get(AnalyticsJob, job_id)
        assert job is not None
        days = DayRange(
            date.fromisoformat(job.params["from"]), date.fromisoformat(job.params["to"])
        )
        if ExportScope(job.scope) is not ExportScope.PARTY:
            writer.write(await _day_rows(session, job, days))
            return writer.count
        party_id = job.target_id
    start = datetime.combine(days.first, time(), UTC)
    end = datetime.combine(days.last + timedelta(days=1), time(), UTC)
    after = start - timedelta(minutes=1)
    while True:
        async with state.sessionmaker() as session:
            page = list(
                await session.scalars(
                    select(PartyMinute)
                    .where(
                        PartyMinute.party_id == party_id,
                        PartyMinute.minute > after,
                        PartyMinute.minute < end,
                    )
                    .order_by(PartyMinute.minute)
                    .limit(PAGE_ROWS)
                )
            )
        writer.write({c: getattr(row, c) for c in PARTY_COLUMNS} for row in page)
        if len(page) < PAGE_ROWS:
            return writer.count
        after = page[-1].minute
        async with state.unit_of_work() as uow:
            row = await uow.session.get(AnalyticsJob, job_id)
            assert row is not None
            done = (after - start).total_seconds() / (end - start).total_seconds()
            await runs.advance(uow, row, min(0.99, done), writer.count)


async def _still_allowed(session: AsyncSession, job: AnalyticsJob) -> str | None:
    """Why the job's owner may no longer read what they asked for (None: they still may): the
    rules are checked again when the file is written, not only when it was requested."""
    owner = None if job.owner_id is None else await session.get(User, job.owner_id)
    if owner is None:
        return "The account that asked for this export is gone."
    target = None if job.target_id is None else str(job.target_id)
    try:
        await authorize(session, owner, ExportScope(job.scope), target)
    except Problem as problem:
        return problem.message
    return None


async def export_analytics(ctx: dict[str, Any], analytics_job_id: str) -> str:
    """Write an EXPORT job's file and finish the job (idempotent: a finished job is skipped)."""
    state: AppState = ctx["state"]
    job_id = uuid.UUID(analytics_job_id)
    async with state.unit_of_work() as uow:
        job = await uow.session.get(AnalyticsJob, job_id, with_for_update=True)
        if job is None or job.kind is not JobKind.EXPORT:
            return "gone"
        if job.status in runs.FINISHED:
            return str(job.status.value).lower()
        await runs.start(uow, job)
        refusal = await _still_allowed(uow.session, job)
        if refusal is not None:  # e.g. no longer a co-host: nothing is written
            await runs.fail(uow, job, refusal)
            return "refused"
        fmt = ExportFormat(job.params["format"])
        head = {
            "scope": job.scope,
            "targetId": None if job.target_id is None else str(job.target_id),
            "from": job.params["from"],
            "to": job.params["to"],
        }
        columns = COLUMNS[ExportScope(job.scope)]
    key = f"analytics-exports/{job_id}.{fmt.value.lower()}"
    try:
        with tempfile.TemporaryDirectory(prefix="wp-export-") as tmp:
            path = Path(tmp) / "export"
            writer = _Writer(path, fmt, columns, head)
            try:
                count = await _write_rows(state, job_id, writer)
            finally:
                writer.close()
            await get_storage(state).put_file(key, path)
    except Exception as exc:
        log.exception("analytics export failed", extra={"job": str(job_id)})
        async with state.unit_of_work() as uow:
            row = await uow.session.get(AnalyticsJob, job_id)
            if row is not None:
                await runs.fail(uow, row, f"The export failed ({type(exc).__name__}).")
        return "failed"
    async with state.unit_of_work() as uow:
        row = await uow.session.get(AnalyticsJob, job_id)
        if row is None:  # the owner's account went meanwhile
            await get_storage(state).delete_prefix(key)
            return "gone"
        await runs.succeed(uow, row, processed=count, file_key=key)
    return "succeeded"


async def purge_analytics_exports(ctx: dict[str, Any]) -> int:
    """Delete export files past their retention (a batch per run; the rows stay, without a
    file). Returns how many were purged."""
    state: AppState = ctx["state"]
    hours = state.settings.analytics_export_retention_hours
    cutoff = utcnow() - timedelta(hours=hours)
    async with state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(AnalyticsJob.id, AnalyticsJob.file_key)
                .where(
                    AnalyticsJob.kind == JobKind.EXPORT,
                    AnalyticsJob.file_key.is_not(None),
                    AnalyticsJob.finished_at < cutoff,
                )
                .order_by(AnalyticsJob.finished_at)
                .limit(PURGE_BATCH)
            )
        ).all()
    storage = get_storage(state)
    for _, key in rows:
        if key is not None:
            await storage.delete_prefix(key)
    if rows:
        async with state.sessionmaker() as session:
            await session.execute(
                update(AnalyticsJob)
                .where(AnalyticsJob.id.in_([job_id for job_id, _ in rows]))
                .values(file_key=None)
            )
            await session.commit()
    return len(rows)
