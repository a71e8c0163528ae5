"""`GET /media/{token}/{path}`: a video's HLS playlists, segments and thumbnail from storage.

The token (purpose "media", see `videos/signing.py`) binds a video id and a path: either one file
("thumb.jpg") or a prefix ending in "/" ("hls/"). One token per video prefix means playlists are
served as stored: their relative child URLs ("720p/index.m3u8", "seg_00001.ts") resolve under
the same token, so nothing is rewritten and segment URLs stay stable (cacheable) for the token's
lifetime. Access was checked when the URL was issued (`videos/urls.py`); serving reads no
database row. A token is valid until it expires, even if the video turns private meanwhile:
its lifetime (`MEDIA_URL_TTL_SECONDS`) bounds that.

A token for "hls/@720" (a viewer whose plan caps renditions, `entitlements.max_rendition_height`)
gets the master playlist without the taller variants, and 403 for their files.

Range requests (one range: `bytes=a-b`, `bytes=a-`, `bytes=-n`) answer 206, unsatisfiable ones
416; several ranges get the whole file (RFC 9110 lets a server ignore Range). ETag, If-None-Match
and If-Range are honoured.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import PurePosixPath

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from watchparty.videos.signing import InvalidSignature, verify
from watchparty.videos.storage import Storage, get_storage

MEDIA_PURPOSE = "media"

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",  # fMP4 init segments
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
SEGMENT_MAX_AGE = 365 * 86400  # segments never change once written
PLAYLIST_MAX_AGE = 10
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_RENDITION = re.compile(r"^hls/(\d+)p/")
_RESOLUTION = re.compile(r"RESOLUTION=\d+x(\d+)")
_URI = re.compile(r'URI="([^"]+)"')
MAX_PLAYLIST_BYTES = 1024 * 1024


def media_subject(video_id: str, scope: str) -> str:
    """The token subject for `scope`: one file ("thumb.jpg") or a prefix ending in "/"."""
    return f"{video_id}:{scope}"


def _forbidden(reason: str) -> Response:
    return PlainTextResponse(reason, status_code=403, headers={"Cache-Control": "no-store"})


def _not_found() -> Response:
    return PlainTextResponse("Not found.", status_code=404, headers={"Cache-Control": "no-store"})


def _allowed(scope: str, path: str) -> bool:
    parts = path.split("/")
    if not path or "\\" in path or any(p in ("", ".", "..") for p in parts):
        return False
    return path.startswith(scope) if scope.endswith("/") else path == scope


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end exclusive) for one satisfiable range; None to serve it all; "416" otherwise."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or an unknown unit: ignore the header
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            return "416"
        return max(0, size - length), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        return "416"
    return start, end


def _etag(key: str, size: int) -> str:
    # Stored media files are written once (processing writes them whole), so key and size name a
    # version; a re-processed video gets the same key only with identical output settings.
    digest = hashlib.sha256(f"{key}\0{size}".encode()).hexdigest()[:24]
    return f'"{digest}"'


def _cache_control(path: str, expires_at: int) -> str:
    remaining = max(0, expires_at - int(time.time()))
    if path.endswith(".m3u8"):
        return f"private, max-age={min(PLAYLIST_MAX_AGE, remaining)}"
    return f"private, max-age={min(SEGMENT_MAX_AGE, remaining)}, immutable"


async def serve_media(request: Request) -> Response:
    token: str = request.path_params["token"]
    path: str = request.path_params["path"]
    settings = request.app.state.settings
    try:
        subject = verify(settings, MEDIA_PURPOSE, token)
    except InvalidSignature as exc:
        return _forbidden(f"This media link is invalid or has expired ({exc}).")
    video_id, _, scoped = subject.partition(":")
    scope, _, capped = scoped.partition("@")
    cap = int(capped) if capped.isdigit() else None
    if not _allowed(scope, path) or not _within_cap(path, cap):
        return _forbidden("This media link does not cover that file.")
    content_type = CONTENT_TYPES.get(PurePosixPath(path).suffix.lower())
    if content_type is None:
        return _not_found()
    storage = get_storage(request.app.state.wp)
    key = f"videos/{video_id}/{path}"
    size = await storage.size(key)
    if size is None:
        return _not_found()
    if cap is not None and _is_master(path):
        return await _capped_master(request, storage, key, size, cap, token)
    etag = _etag(key, size)
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": _cache_control(path, int(token.split(".")[1])),
    }
    if etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    window: tuple[int, int] | str | None = None
    if wanted is not None and (if_range is None or if_range.strip() == etag):
        window = parse_range(wanted, size)
    if window == "416":
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    status = 200
    start, end = 0, size
    if isinstance(window, tuple):
        start, end = window
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content_type)
    body: AsyncIterator[bytes] = storage.read(key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=content_type)


def _rendition_height(path: str) -> int | None:
    """480 for "hls/480p/seg_00001.ts" (the layout processing writes)."""
    match = _RENDITION.match(path)
    return int(match.group(1)) if match else None


def _within_cap(path: str, cap: int | None) -> bool:
    height = _rendition_height(path)
    return cap is None or height is None or height <= cap


def _is_master(path: str) -> bool:
    return path.endswith(".m3u8") and path.count("/") == 1  # hls/<name>.m3u8


def cap_master_playlist(text: str, cap: int) -> str:
    """The master playlist without the variants taller than `cap` (premium renditions)."""
    lines = text.splitlines()
    kept: list[str] = []
    skip_uri = False
    for line in lines:
        if line.startswith(("#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF")):
            resolution = _RESOLUTION.search(line)
            uri = _URI.search(line)
            height = int(resolution.group(1)) if resolution else None
            if height is None and uri is not None:
                height = _rendition_height("hls/" + uri.group(1))
            if height is not None and height > cap:
                skip_uri = line.startswith("#EXT-X-STREAM-INF")  # its URI is the next line
                continue
        elif skip_uri and line and not line.startswith("#"):
            skip_uri = False
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


async def _capped_master(
    request: Request, storage: Storage, key: str, size: int, cap: int, token: str
) -> Response:
    if size > MAX_PLAYLIST_BYTES:
        return _not_found()
    raw = b"".join([chunk async for chunk in storage.read(key)])
    body = cap_master_playlist(raw.decode("utf-8", "replace"), cap).encode()
    headers = {
        "ETag": _etag(f"{key}@{cap}", size),
        "Cache-Control": _cache_control(key, int(token.split(".")[1])),
    }
    if headers["ETag"] in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    content = b"" if request.method == "HEAD" else body
    headers["Content-Length"] = str(len(body))
    return Response(content, headers=headers, media_type=CONTENT_TYPES[".m3u8"])


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {part.strip().removeprefix("W/") for part in header.split(",")}


routes = [Route("/media/{token}/{path:path}", serve_media, methods=["GET", "HEAD"])]
