"""`addExternalVideo` through GraphQL, and the oEmbed job against a loopback oEmbed server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from arq.jobs import Job
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.parties_ops import error, person
from tests.support import Api, live_server, make_settings, running_app
from watchparty.jobs import ArqJobQueue, job_deserializer, queue_name
from watchparty.videos import oembed
from watchparty.videos.external import OEMBED_JOB

VIDEO = """id title status visibility durationSeconds thumbnailUrl hlsUrl
    source { provider externalId url embedUrl isLive } renditions { height }"""
ADD = f"""mutation($input: AddExternalVideoInput!) {{ addExternalVideo(input: $input) {{
    __typename ... on VideoPayload {{ video {{ {VIDEO} }} }}
    ... on UserError {{ code message field }} }} }}"""
GET = f"query($id: ID!) {{ video(id: $id) {{ {VIDEO} }} }}"

YOUTUBE_THUMB = "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg"
ANSWERS: dict[str, tuple[int, Any]] = {
    "https://youtu.be/dQw4w9WgXcQ": (
        200,
        {"type": "video", "title": "  Never Gonna\n Give ", "thumbnail_url": YOUTUBE_THUMB},
    ),
    "https://www.youtube.com/watch?v=privatevid1": (401, "Unauthorized"),
    "https://www.youtube.com/watch?v=weirdanswer": (
        200,
        {"title": 42, "duration": "long", "thumbnail_url": "http://insecure.example/x.jpg"},
    ),
    "https://vimeo.com/76979871": (
        200,
        {"title": "A Vimeo film", "duration": 62, "thumbnail_url": "https://i.vimeocdn.com/1.jpg"},
    ),
}


@dataclass
class OEmbedServer:
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            provider = request.path_params["provider"]
            params = dict(request.query_params)
            self.requests.append((provider, params))
            url = params.get("url", "")
            if self.failures_left.get(url, 0) > 0:
                self.failures_left[url] -= 1
                return PlainTextResponse("try later", status_code=503)
            status, body = ANSWERS.get(url, (404, "Not Found"))
            if isinstance(body, str):
                return PlainTextResponse(body, status_code=status)
            return JSONResponse(body, status_code=status)

        return Starlette(routes=[Route("/{provider}/oembed", answer)])


@dataclass
class Env:
    api: Api
    server: OEmbedServer


@pytest.fixture(scope="module", params=["postgres", "embedded"])
async def env(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    server = OEmbedServer()
    async with live_server(server.app()) as base:
        settings = make_settings(
            request.param,
            database_url=pg_url,
            tmp=tmp_path_factory.mktemp("external"),
            frontend_url="https://app.example.com",
            oembed_youtube_url=f"{base}/youtube/oembed",
            oembed_vimeo_url=f"{base}/vimeo/oembed",
            oembed_twitch_url="",
        )
        async with running_app(settings) as api:
            yield Env(api, server)


async def add(api: Api, token: str | None, url: str) -> dict[str, Any]:
    result = await api.gql(ADD, {"input": {"url": url}}, token=token)
    payload: dict[str, Any] = result.data["addExternalVideo"]
    return payload


async def job_result(api: Api, video_id: str) -> Any:
    """The oEmbed job's outcome (embedded: run it here and read it from the log-free result)."""
    job_id = f"{OEMBED_JOB}:{video_id}"
    jobs = api.state.jobs
    if isinstance(jobs, ArqJobQueue):
        job = Job(
            jobs.arq_job_id(job_id),
            jobs.pool,
            _queue_name=queue_name(api.settings),
            _deserializer=job_deserializer,
        )
        return await job.result(timeout=10, poll_delay=0.05)
    await api.drain_jobs()
    return await oembed.fetch_external_metadata({"state": api.state}, video_id=video_id)


async def settled(api: Api, token: str, video_id: str, until: str) -> dict[str, Any]:
    """The video once the oEmbed job has run (`until`: a field that becomes non-null)."""
    for _ in range(200):
        await api.drain_jobs()
        video: dict[str, Any] = (await api.gql(GET, {"id": video_id}, token=token)).data["video"]
        if video[until] is not None:
            return video
        await asyncio.sleep(0.05)
    raise AssertionError(f"{until} never arrived: {video}")


async def test_youtube_video_ready_at_once_then_oembed_fills_it(env: Env) -> None:
    api, owner = env.api, await person(env.api, "Owner")
    payload = await add(api, owner.token, "https://youtu.be/dQw4w9WgXcQ")
    assert payload["__typename"] == "VideoPayload"
    video = payload["video"]
    assert {k: video[k] for k in ("title", "status", "visibility", "hlsUrl", "renditions")} == {
        "title": "YouTube video dQw4w9WgXcQ",
        "status": "READY",
        "visibility": "PRIVATE",
        "hlsUrl": None,
        "renditions": [],
    }
    assert video["source"] == {
        "provider": "YOUTUBE",
        "externalId": "dQw4w9WgXcQ",
        "url": "https://youtu.be/dQw4w9WgXcQ",
        "embedUrl": "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "isLive": False,
    }
    filled = await settled(api, owner.token, video["id"], "thumbnailUrl")
    assert (filled["title"], filled["thumbnailUrl"], filled["durationSeconds"]) == (
        "Never Gonna Give",
        YOUTUBE_THUMB,
        None,  # YouTube's oEmbed has no duration
    )
    assert ("youtube", {"url": "https://youtu.be/dQw4w9WgXcQ", "format": "json"}) in (
        env.server.requests
    )
    again = await add(api, owner.token, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert again["video"]["id"] == video["id"]  # the same source: the same video
    other = await person(api, "Other")
    theirs = await add(api, other.token, "https://youtu.be/dQw4w9WgXcQ")
    assert theirs["video"]["id"] != video["id"]


async def test_vimeo_duration_and_owner_title_kept(env: Env) -> None:
    api, owner = env.api, await person(env.api, "Owner")
    video = (await add(api, owner.token, "https://vimeo.com/76979871"))["video"]
    filled = await settled(api, owner.token, video["id"], "durationSeconds")
    assert (filled["title"], filled["durationSeconds"], filled["thumbnailUrl"]) == (
        "A Vimeo film",
        62.0,
        "https://i.vimeocdn.com/1.jpg",
    )


async def test_provider_refusal_and_odd_answers_leave_the_video_alone(env: Env) -> None:
    api, owner = env.api, await person(env.api, "Owner")
    for url, title, outcome in [
        ("https://www.youtube.com/watch?v=privatevid1", "YouTube video privatevid1", "unavailable"),
        ("https://www.youtube.com/watch?v=weirdanswer", "YouTube video weirdanswer", "done"),
    ]:
        video = (await add(api, owner.token, url))["video"]
        assert await job_result(api, video["id"]) == outcome
        now = (await api.gql(GET, {"id": video["id"]}, token=owner.token)).data["video"]
        assert (now["title"], now["durationSeconds"], now["thumbnailUrl"], now["status"]) == (
            title,
            None,
            None,
            "READY",
        )


async def test_transient_failures_are_retried(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oembed, "RETRY_BASE_SECONDS", 0.05)
    api, owner = env.api, await person(env.api, "Owner")
    url = "https://vimeo.com/76979871"
    env.server.failures_left[url] = 2
    video = (await add(api, owner.token, url))["video"]
    filled = await settled(api, owner.token, video["id"], "durationSeconds")
    assert filled["title"] == "A Vimeo film"
    assert env.server.failures_left[url] == 0


async def test_direct_files_and_twitch_need_no_oembed(env: Env) -> None:
    api, owner = env.api, await person(env.api, "Owner")
    before = len(env.server.requests)
    mp4 = (await add(api, owner.token, "https://cdn.example.com/films/intro.mp4"))["video"]
    assert (mp4["title"], mp4["source"]["provider"], mp4["source"]["embedUrl"]) == (
        "intro.mp4",
        "MP4",
        None,
    )
    hls = (await add(api, owner.token, "https://cdn.example.com/live/master.m3u8"))["video"]
    assert (hls["source"]["provider"], hls["source"]["url"], hls["hlsUrl"]) == (
        "HLS",
        "https://cdn.example.com/live/master.m3u8",
        None,
    )
    live = (await add(api, owner.token, "https://www.twitch.tv/somebody"))["video"]
    assert live["source"] == {
        "provider": "TWITCH",
        "externalId": "somebody",
        "url": "https://www.twitch.tv/somebody",
        "embedUrl": "https://player.twitch.tv/?channel=somebody&parent=app.example.com",
        "isLive": True,
    }
    await api.drain_jobs()
    assert len(env.server.requests) == before  # no Twitch endpoint configured, none for files


async def test_errors(env: Env) -> None:
    api, owner = env.api, await person(env.api, "Owner")
    assert await add(api, None, "https://youtu.be/dQw4w9WgXcQ") == error(
        "NotAuthenticated", "NOT_AUTHENTICATED", "You need to sign in."
    )
    assert await add(api, owner.token, "https://example.com/page") == error(
        "ValidationError",
        "VALIDATION",
        "Unsupported link: use YouTube, Vimeo or Twitch, or a direct .mp4 or .m3u8 link.",
        "url",
    )
    assert await add(api, owner.token, "not a link") == error(
        "ValidationError", "VALIDATION", "Enter a full http(s) link to a video.", "url"
    )
