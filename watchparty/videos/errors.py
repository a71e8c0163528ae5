"""The videos domain's expected errors: the shared `Problem`s with this domain's messages.

A video the viewer may not see is reported exactly like a missing one (NotFound), so ids of
private videos leak nothing. Upload failures of the REST shim are plain HTTP answers (see
`watchparty.http.uploads`).
"""

from __future__ import annotations

from watchparty.errors import Conflict, NotAllowed, NotFound

VIDEO_NOT_FOUND = "No such video."
OWNER_ONLY = "Only the video's owner can do this."


def video_not_found(field: str = "id") -> NotFound:
    return NotFound(VIDEO_NOT_FOUND, field=field)


def owner_only() -> NotAllowed:
    return NotAllowed(OWNER_ONLY)


def upload_incomplete(received: int, declared: int) -> Conflict:
    return Conflict(
        f"The upload is incomplete: {received} of {declared} bytes arrived.", field="videoId"
    )


def not_uploading(status: str) -> Conflict:
    return Conflict(f"The video is not waiting for an upload (it is {status}).", field="videoId")
