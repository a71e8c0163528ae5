"""`GET /analytics/exports/{job_id}?token=...`: an analytics export's file, for whoever holds the
signed URL `AnalyticsJob.downloadUrl` issued to the job's owner (purpose "analytics-export",
`analytics/exports.py`; the token names the job and expires). A tampered, foreign or expired
token is 403; a job without a file (not finished, or purged) 404. The file is streamed from the
media storage with its Content-Type and an attachment Content-Disposition, never cached.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from watchparty.analytics.exports import CONTENT_TYPES, EXPORT_PURPOSE, filename
from watchparty.analytics.models import AnalyticsJob, ExportFormat, JobKind
from watchparty.videos.signing import InvalidSignature, verify
from watchparty.videos.storage import get_storage

NO_STORE = {"Cache-Control": "no-store"}


async def serve_export(request: Request) -> Response:
    raw_id = str(request.path_params["job_id"])
    state = request.app.state.wp
    try:
        subject = verify(state.settings, EXPORT_PURPOSE, request.query_params.get("token", ""))
    except InvalidSignature as exc:
        return PlainTextResponse(
            f"This download link is invalid or has expired ({exc}).", 403, headers=NO_STORE
        )
    if subject != raw_id:
        return PlainTextResponse("This download link is for another file.", 403, headers=NO_STORE)
    async with state.sessionmaker() as session:
        job = await session.get(AnalyticsJob, uuid.UUID(subject))
    if job is None or job.kind is not JobKind.EXPORT or job.file_key is None:
        return PlainTextResponse("Not found.", 404, headers=NO_STORE)
    storage = get_storage(state)
    size = await storage.size(job.file_key)
    if size is None:
        return PlainTextResponse("Not found.", 404, headers=NO_STORE)
    fmt = ExportFormat(job.params.get("format", "CSV"))
    headers = {
        **NO_STORE,
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{filename(job)}"',
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(
        storage.read(job.file_key), headers=headers, media_type=CONTENT_TYPES[fmt]
    )


routes = [Route("/analytics/exports/{job_id:uuid}", serve_export, methods=["GET"])]
