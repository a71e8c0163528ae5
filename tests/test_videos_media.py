"""`GET /media/{token}/{path}`: signed access, Range, content types, caching headers.

The files are put in storage the way processing writes them; tokens are minted with the
contract's `signing.sign` (the issuing rules are tested through GraphQL in test_videos_urls.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support import Api
from watchparty.videos.signing import sign
from watchparty.videos.storage import get_storage

SEGMENT = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable
PLAYLIST = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:4.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _video(api: Api) -> str:
    video_id = str(uuid.uuid4())
    storage = get_storage(api.state)
    files = {
        "hls/master.m3u8": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n240p/index.m3u8\n",
        "hls/240p/index.m3u8": PLAYLIST,
        "hls/240p/seg_00001.ts": SEGMENT,
        "hls/240p/seg_00002.m4s": b"fmp4",
        "thumb.jpg": b"\xff\xd8jpeg",
        "original": b"the uploaded file",
    }
    for path, data in files.items():
        await storage.write(f"videos/{video_id}/{path}", _chunks(data))
    return video_id


def _token(api: Api, video_id: str, scope: str = "hls/", ttl: int = 600, **kw: str) -> str:
    purpose = kw.get("purpose", "media")
    return sign(api.settings, purpose, f"{video_id}:{scope}", int(time.time()) + ttl)


async def test_whole_files_with_content_types_and_cache(any_api: Api) -> None:
    video_id = await _video(any_api)
    token = _token(any_api, video_id)
    expected = {
        "hls/master.m3u8": "application/vnd.apple.mpegurl",
        "hls/240p/index.m3u8": "application/vnd.apple.mpegurl",
        "hls/240p/seg_00001.ts": "video/mp2t",
        "hls/240p/seg_00002.m4s": "video/iso.segment",
    }
    for path, content_type in expected.items():
        response = await any_api.client.get(f"/media/{token}/{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type
        assert response.headers["accept-ranges"] == "bytes"
    playlist = await any_api.client.get(f"/media/{token}/hls/240p/index.m3u8")
    assert playlist.content == PLAYLIST
    assert playlist.headers["cache-control"] == "private, max-age=10"
    segment = await any_api.client.get(f"/media/{token}/hls/240p/seg_00001.ts")
    assert segment.content == SEGMENT
    assert segment.headers["content-length"] == "10240"
    max_age = int(segment.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert 590 <= max_age <= 600  # never cached past the token's expiry
    assert segment.headers["cache-control"].endswith(", immutable")
    thumb_token = _token(any_api, video_id, "thumb.jpg")
    thumb = await any_api.client.get(f"/media/{thumb_token}/thumb.jpg")
    assert (thumb.status_code, thumb.headers["content-type"], thumb.content) == (
        200,
        "image/jpeg",
        b"\xff\xd8jpeg",
    )


@pytest.mark.parametrize(
    ("header", "status", "content_range", "body"),
    [
        ("bytes=0-99", 206, "bytes 0-99/10240", SEGMENT[0:100]),
        ("bytes=1000-1999", 206, "bytes 1000-1999/10240", SEGMENT[1000:2000]),
        ("bytes=10000-", 206, "bytes 10000-10239/10240", SEGMENT[10000:]),
        ("bytes=-16", 206, "bytes 10224-10239/10240", SEGMENT[-16:]),
        ("bytes=-99999", 206, "bytes 0-10239/10240", SEGMENT),
        ("bytes=10239-20000", 206, "bytes 10239-10239/10240", SEGMENT[-1:]),
        ("bytes=0-0", 206, "bytes 0-0/10240", SEGMENT[:1]),
        ("bytes=10240-", 416, "bytes */10240", b""),
        ("bytes=20000-20001", 416, "bytes */10240", b""),
        ("bytes=-0", 416, "bytes */10240", b""),
        ("bytes=0-1,5-6", 200, None, SEGMENT),  # several ranges: the whole file
        ("items=0-1", 200, None, SEGMENT),  # unknown unit: ignored
        ("bytes=5-1", 200, None, SEGMENT),  # invalid: ignored
    ],
)
async def test_range_requests(
    any_api: Api, header: str, status: int, content_range: str | None, body: bytes
) -> None:
    video_id = await _video(any_api)
    token = _token(any_api, video_id)
    response = await any_api.client.get(
        f"/media/{token}/hls/240p/seg_00001.ts", headers={"range": header}
    )
    assert response.status_code == status
    assert response.headers.get("content-range") == content_range
    assert response.content == body
    if status != 416:
        assert response.headers["content-length"] == str(len(body))


async def test_etag_if_none_match_and_if_range(any_api: Api) -> None:
    video_id = await _video(any_api)
    token = _token(any_api, video_id)
    url = f"/media/{token}/hls/240p/seg_00001.ts"
    first = await any_api.client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await any_api.client.get(url, headers={"if-none-match": etag})
    assert (again.status_code, again.content) == (304, b"")
    other = await any_api.client.get(url, headers={"if-none-match": '"other"'})
    assert other.status_code == 200
    ranged = await any_api.client.get(url, headers={"range": "bytes=0-3", "if-range": etag})
    assert (ranged.status_code, ranged.content) == (206, SEGMENT[:4])
    stale = await any_api.client.get(url, headers={"range": "bytes=0-3", "if-range": '"old"'})
    assert (stale.status_code, stale.content) == (200, SEGMENT)


async def test_head_sends_headers_only(any_api: Api) -> None:
    video_id = await _video(any_api)
    token = _token(any_api, video_id)
    response = await any_api.client.head(
        f"/media/{token}/hls/240p/seg_00001.ts", headers={"range": "bytes=10-19"}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 10-19/10240"
    assert response.headers["content-length"] == "10"
    assert response.content == b""


async def test_invalid_expired_and_foreign_tokens_are_refused(any_api: Api) -> None:
    video_id = await _video(any_api)
    good = _token(any_api, video_id)
    subject, expiry, mac = good.split(".")
    forged_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    other_video = _token(any_api, str(uuid.uuid4()))
    longer = f"{subject}.{int(expiry) + 3600}.{mac}"  # stretching the expiry breaks the MAC
    cases = {
        "forged": f"{subject}.{expiry}.{forged_mac}",
        "stretched": longer,
        "expired": _token(any_api, video_id, ttl=-1),
        "upload purpose": _token(any_api, video_id, purpose="upload"),
        "garbage": "not-a-token",
        "empty parts": "a..b",
    }
    for name, token in cases.items():
        response = await any_api.client.get(f"/media/{token}/hls/master.m3u8")
        assert response.status_code == 403, name
        assert response.headers["cache-control"] == "no-store", name
    # A genuine token of another video does not open this one's files (they are not there).
    response = await any_api.client.get(f"/media/{other_video}/hls/master.m3u8")
    assert response.status_code == 404


async def test_token_covers_only_its_scope(any_api: Api) -> None:
    video_id = await _video(any_api)
    hls = _token(any_api, video_id)
    thumb = _token(any_api, video_id, "thumb.jpg")
    refused = [
        (hls, "thumb.jpg"),
        (hls, "original"),
        (hls, "hls/../original"),
        (hls, "hls//240p/index.m3u8"),
        (thumb, "hls/master.m3u8"),
        (thumb, "thumb.jpg/x"),
    ]
    for token, path in refused:
        response = await any_api.client.get(f"/media/{token}/{path}")
        assert response.status_code == 403, path
    missing = await any_api.client.get(f"/media/{hls}/hls/240p/seg_09999.ts")
    assert missing.status_code == 404
    unknown_type = await any_api.client.get(f"/media/{hls}/hls/notes.txt")
    assert unknown_type.status_code == 404


async def test_cors_lets_a_player_on_the_frontend_read_ranges(any_api: Api) -> None:
    video_id = await _video(any_api)
    url = f"/media/{_token(any_api, video_id)}/hls/240p/seg_00001.ts"
    origin = "http://localhost:3000"
    preflight = await any_api.client.options(
        url,
        headers={
            "origin": origin,
            "access-control-request-method": "GET",
            "access-control-request-headers": "range",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    response = await any_api.client.get(url, headers={"origin": origin, "range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"].lower().split(", ")
    assert "content-range" in exposed
