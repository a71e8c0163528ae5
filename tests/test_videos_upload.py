"""Uploads through the signed URL: create, PUT (whole, resumed, too large), HEAD, complete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from tests.parties_ops import person
from tests.support import Api, live_server
from tests.videos_ops import (
    ready_video,
    start_upload,
    upload_path,
    uploaded,
    video_error,
    video_mutate,
    video_query,
)
from watchparty.videos.models import original_key
from watchparty.videos.signing import sign
from watchparty.videos.storage import get_storage

DATA = bytes(range(256)) * 40  # 10240 bytes


async def stored(api: Api, video_id: str) -> bytes:
    chunks = [c async for c in get_storage(api.state).read(original_key(video_id))]
    return b"".join(chunks)


async def offset(api: Api, path: str) -> tuple[int, str, str]:
    response = await api.client.head(path)
    assert response.status_code == 200
    headers = response.headers
    return int(headers["upload-offset"]), headers["upload-length"], headers["content-length"]


async def test_create_put_complete(any_api: Api) -> None:
    owner = await person(any_api, "Uploader")
    payload = await start_upload(any_api, owner.token, len(DATA), title="  Our   holiday ")
    video = payload["video"]
    assert payload["uploadUrl"].startswith("http://localhost:8000/uploads/")
    assert payload["uploadHeaders"] == [{"name": "Content-Type", "value": "video/mp4"}]
    assert video["title"] == "Our holiday"
    assert (video["status"], video["visibility"], video["premiumOnly"]) == (
        "UPLOADING",
        "PRIVATE",
        False,
    )
    assert video["owner"] == {"id": owner.id}
    assert video["source"] == {
        "provider": "UPLOAD",
        "externalId": None,
        "url": None,
        "embedUrl": None,
        "isLive": False,
    }
    assert video["upload"] == {
        "filename": "holiday.mp4",
        "contentType": "video/mp4",
        "sizeBytes": 10240.0,
        "receivedBytes": 0.0,
        "expiresAt": payload["expiresAt"],
    }
    path = upload_path(payload)
    assert await offset(any_api, path) == (0, "10240", "0")

    response = await any_api.client.put(path, content=DATA, headers={"content-type": "video/mp4"})
    assert response.status_code == 200
    assert response.json() == {"videoId": video["id"], "receivedBytes": 10240, "sizeBytes": 10240}
    assert response.headers["upload-offset"] == "10240"
    assert await offset(any_api, path) == (10240, "10240", "10240")
    assert await stored(any_api, video["id"]) == DATA
    assert (await video_query(any_api, video["id"], owner.token))["upload"]["receivedBytes"] == (
        10240.0
    )

    done = await video_mutate(any_api, "completeVideoUpload", owner.token, videoId=video["id"])
    assert done["__typename"] == "VideoPayload"
    assert done["video"]["status"] == "QUEUED"
    assert done["video"]["upload"]["expiresAt"] is None

    again = await any_api.client.put(path, content=DATA)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "NOT_UPLOADING"
    twice = await video_mutate(any_api, "completeVideoUpload", owner.token, videoId=video["id"])
    assert twice["__typename"] == "VideoPayload"


async def test_resume_with_upload_offset_and_content_range(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, len(DATA))
    path = upload_path(payload)
    first = await any_api.client.put(path, content=DATA[:4000])
    assert first.json()["receivedBytes"] == 4000
    assert (await offset(any_api, path))[0] == 4000

    wrong = await any_api.client.put(path, content=DATA[3000:], headers={"upload-offset": "3000"})
    assert wrong.status_code == 409
    assert wrong.json()["error"] == {
        "code": "OFFSET_MISMATCH",
        "message": "The upload continues at byte 4000.",
    }
    assert wrong.headers["upload-offset"] == "4000"

    second = await any_api.client.put(
        path, content=DATA[4000:7000], headers={"upload-offset": "4000"}
    )
    assert second.json()["receivedBytes"] == 7000
    third = await any_api.client.put(
        path, content=DATA[7000:], headers={"content-range": "bytes 7000-10239/10240"}
    )
    assert third.status_code == 200
    assert third.json()["receivedBytes"] == 10240
    assert await stored(any_api, payload["video"]["id"]) == DATA


async def test_a_put_without_offset_starts_over(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, 10)
    path = upload_path(payload)
    await any_api.client.put(path, content=b"xxxxxxx")
    response = await any_api.client.put(path, content=b"0123456789")
    assert response.json()["receivedBytes"] == 10
    assert await stored(any_api, payload["video"]["id"]) == b"0123456789"


async def test_size_is_enforced_and_keeps_what_arrived(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, 100)
    path = upload_path(payload)
    assert (await any_api.client.put(path, content=b"a" * 60)).status_code == 200

    declared = await any_api.client.put(path, content=b"b" * 41, headers={"upload-offset": "60"})
    assert declared.status_code == 413
    assert declared.json()["error"] == {
        "code": "TOO_LARGE",
        "message": "The file is declared as 100 bytes.",
    }

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(5):
            yield b"c" * 10

    streamed = await any_api.client.put(path, content=chunked(), headers={"upload-offset": "60"})
    assert streamed.status_code == 413
    assert streamed.json()["error"]["message"] == "More bytes than the declared 100."
    assert streamed.headers["upload-offset"] == "60"
    assert (await offset(any_api, path))[0] == 60
    assert await stored(any_api, payload["video"]["id"]) == b"a" * 60

    bad_range = await any_api.client.put(
        path, content=b"d" * 40, headers={"content-range": "bytes 60-99/200"}
    )
    assert bad_range.status_code == 400
    assert bad_range.json()["error"] == {
        "code": "BAD_RANGE",
        "message": "Content-Range must lie within the declared 100 bytes.",
    }
    junk = await any_api.client.put(path, content=b"d", headers={"upload-offset": "-1"})
    assert junk.status_code == 400
    assert junk.json()["error"]["code"] == "BAD_RANGE"


async def test_complete_needs_every_byte(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, 10)
    video_id = payload["video"]["id"]
    await any_api.client.put(upload_path(payload), content=b"12345")
    result = await video_mutate(any_api, "completeVideoUpload", owner.token, videoId=video_id)
    assert result == video_error(
        "Conflict", "CONFLICT", "The upload is incomplete: 5 of 10 bytes arrived.", "videoId"
    )
    assert (await video_query(any_api, video_id, owner.token))["status"] == "UPLOADING"


async def test_bad_forged_expired_and_deleted_tokens(any_api: Api) -> None:
    owner = await person(any_api)
    payload = await start_upload(any_api, owner.token, 10)
    video_id = payload["video"]["id"]
    path = upload_path(payload)

    for bad in (
        "/uploads/nonsense",
        path[:-3] + "AAA",
        "/uploads/" + sign(any_api.settings, "media", video_id, int(time.time()) + 600),
    ):
        response = await any_api.client.put(bad, content=b"0123456789")
        assert response.status_code == 403, bad
        assert response.json()["error"] == {
            "code": "INVALID_TOKEN",
            "message": "This is not a valid upload URL.",
        }
    expired = sign(any_api.settings, "upload", video_id, int(time.time()) - 1)
    response = await any_api.client.put(f"/uploads/{expired}", content=b"0123456789")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "TOKEN_EXPIRED"
    assert (await any_api.client.head(f"/uploads/{expired}")).status_code == 403

    deleted = await video_mutate(any_api, "deleteVideo", owner.token, id=video_id)
    assert deleted == {"__typename": "DeleteVideoPayload", "deletedVideoId": video_id}
    response = await any_api.client.put(path, content=b"0123456789")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "NOT_FOUND", "message": "No such video."}


async def test_renew_gives_a_fresh_url_and_keeps_the_bytes(any_api: Api) -> None:
    owner = await person(any_api)
    other = await person(any_api)
    payload = await start_upload(any_api, owner.token, 10)
    video_id = payload["video"]["id"]
    await any_api.client.put(upload_path(payload), content=b"12345")
    renewed = await video_mutate(any_api, "renewVideoUpload", owner.token, videoId=video_id)
    assert renewed["__typename"] == "VideoUploadPayload"
    assert renewed["video"]["upload"]["receivedBytes"] == 5.0
    path = upload_path(renewed)
    response = await any_api.client.put(path, content=b"67890", headers={"upload-offset": "5"})
    assert response.json()["receivedBytes"] == 10
    stranger = await video_mutate(any_api, "renewVideoUpload", other.token, videoId=video_id)
    assert stranger == video_error("NotFound", "NOT_FOUND", "No such video.", "videoId")
    done = await video_mutate(any_api, "completeVideoUpload", owner.token, videoId=video_id)
    assert done["video"]["status"] == "QUEUED"
    ready = await ready_video(any_api, owner.token)  # no job runs for this one: stays READY
    late = await video_mutate(any_api, "renewVideoUpload", owner.token, videoId=ready)
    assert late == video_error(
        "Conflict", "CONFLICT", "The video is not waiting for an upload (it is READY).", "videoId"
    )


async def test_create_validation(any_api: Api) -> None:
    owner = await person(any_api)
    good = {"title": "T", "filename": "a.mp4", "sizeBytes": 10, "contentType": "video/mp4"}
    cases = [
        ({"sizeBytes": 0}, "A whole, positive number of bytes.", "sizeBytes"),
        ({"sizeBytes": 1.5}, "A whole, positive number of bytes.", "sizeBytes"),
        ({"sizeBytes": 5 * 1024**3 + 1}, "At most 5368709120 bytes.", "sizeBytes"),
        ({"contentType": "image/png"}, "Upload a video (video/*).", "contentType"),
        ({"contentType": "nonsense"}, "Give a media type such as video/mp4.", "contentType"),
        ({"title": "   "}, "Give the video a title.", "title"),
        ({"title": "x" * 201}, "At most 200 characters.", "title"),
        ({"filename": " "}, "Give the file's name.", "filename"),
        ({"filename": "y" * 256}, "At most 255 characters.", "filename"),
    ]
    for change, message, field in cases:
        result = await video_mutate(any_api, "createVideoUpload", owner.token, **{**good, **change})
        assert result == video_error("ValidationError", "VALIDATION", message, field), change
    windows = await video_mutate(
        any_api,
        "createVideoUpload",
        owner.token,
        **{**good, "filename": "C:\\films\\trip.mkv", "contentType": "Video/X-Matroska"},
    )
    assert windows["video"]["upload"]["filename"] == "trip.mkv"
    assert windows["video"]["upload"]["contentType"] == "video/x-matroska"
    anonymous = await video_mutate(any_api, "createVideoUpload", None, **good)
    assert anonymous == video_error(
        "NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in.", None
    )


async def test_one_put_at_a_time(api: Api) -> None:
    owner = await person(api)
    payload = await start_upload(api, owner.token, 10)
    video_id = payload["video"]["id"]
    assert api.state.redis is not None
    key = f"{api.settings.redis_key_prefix}videos:upload-lock:{video_id}"
    await api.state.redis.set(key, "another-process", ex=30)
    response = await api.client.put(upload_path(payload), content=b"0123456789")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "UPLOAD_IN_PROGRESS"
    await api.state.redis.delete(key)
    response = await api.client.put(upload_path(payload), content=b"0123456789")
    assert response.status_code == 200


async def test_uploaded_helper_queues(any_api: Api) -> None:
    owner = await person(any_api)
    video = await uploaded(any_api, owner.token, b"not really a video")
    assert video["status"] == "QUEUED"
    assert video["processing"]["status"] == "QUEUED"


async def test_a_dropped_connection_keeps_what_arrived(any_api: Api) -> None:
    owner = await person(any_api)
    big = DATA * 300  # 3 MB: more than the storage's 1 MiB write buffer
    payload = await start_upload(any_api, owner.token, len(big))
    path, video_id = upload_path(payload), payload["video"]["id"]
    async with live_server(any_api.app) as base:
        host, port = base.removeprefix("http://").split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(big)}\r\n\r\n"
        writer.write(head.encode() + big[: len(big) // 2])
        await writer.drain()
        for _ in range(500):  # until some bytes reached storage
            if (await offset(any_api, path))[0] > 0:
                break
            await asyncio.sleep(0.02)
        writer.close()  # the client goes away mid-body
        await writer.wait_closed()
        for _ in range(500):  # until the server noticed and recorded what it kept
            seen = await video_query(any_api, video_id, owner.token)
            if seen["upload"]["receivedBytes"] > 0:
                break
            await asyncio.sleep(0.02)
    kept = (await offset(any_api, path))[0]
    assert 0 < kept <= len(big) // 2
    assert seen["upload"]["receivedBytes"] == float(kept)
    assert await stored(any_api, video_id) == big[:kept]
    rest = await any_api.client.put(path, content=big[kept:], headers={"upload-offset": str(kept)})
    assert rest.json()["receivedBytes"] == len(big)
    assert await stored(any_api, video_id) == big
