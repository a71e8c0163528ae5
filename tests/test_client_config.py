"""`clientConfig`: public, the same for everybody, every value from where it already lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import Api, graphql_socket, live_server, make_settings, running_app
from watchparty.observability import release

CONFIG = """clientConfig {
    apiUrl websocketUrl environment release
    sentry { dsn environment release tracesSampleRate tracePropagationTargets }
    features { billing push uploads search analytics socialLogins { provider loginUrl } }
    limits { chatMessageMaxLength partyMaxMembers mediaUrlMaxLength mediaTitleMaxLength
        pollQuestionMaxLength pollOptionMaxLength pollMinOptions pollMaxOptions reactionEmoji
        uploadMaxBytes uploadMaxBytesByPlan { plan uploadMaxBytes }
        rateLimits { action count perSeconds } }
    billing { enabled publishableKey }
    push { enabled vapidKey webConfig { apiKey projectId } }
    providers { type name player supportsSeek supportsRate isLive acceptsLinks linkExamples }
}"""
# The same answers through their own fields: clientConfig reuses them, never a copy.
ALSO = """billingConfig { enabled publishableKey }
    pushConfig { enabled vapidKey webConfig { apiKey projectId } }
    allowedEmoji
    __type(name: "Mutation") { fields { name } }"""
GIB = 1024**3

PROVIDERS = [
    ("YOUTUBE", "YouTube", "YOUTUBE", True, True, False, True),
    ("VIMEO", "Vimeo", "VIMEO", True, False, False, True),
    ("TWITCH_LIVE", "Twitch (live)", "TWITCH", False, False, True, True),
    ("TWITCH_VOD", "Twitch (video)", "TWITCH", True, False, False, True),
    ("MP4", "Video file", "VIDEO", True, True, False, True),
    ("HLS", "HLS stream", "HLS", True, True, False, True),
    ("UPLOAD", "Upload", "HLS", True, True, False, False),
]


async def read(api: Api, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await api.client.get(
        "/graphql", params={"query": f"{{ {CONFIG} {ALSO} }}"}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def check_shared(data: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = data["clientConfig"]
    assert config["billing"] == data["billingConfig"]
    assert config["push"] == data["pushConfig"]
    assert config["limits"]["reactionEmoji"] == data["allowedEmoji"]
    mutations = {field["name"] for field in data["__type"]["fields"]}
    assert config["features"]["analytics"] is ("trackEvents" in mutations)
    keys = ("type", "name", "player", "supportsSeek", "supportsRate", "isLive", "acceptsLinks")
    assert [tuple(p[k] for k in keys) for p in config["providers"]] == PROVIDERS
    assert config["providers"][0]["linkExamples"] == [
        "https://www.youtube.com/watch?v=<id>",
        "https://youtu.be/<id>",
    ]
    return config


async def test_defaults_describe_the_embedded_server(api_embedded: Api) -> None:
    config = check_shared(await read(api_embedded))
    assert (config["apiUrl"], config["websocketUrl"]) == (
        "http://testserver/graphql",  # no PUBLIC_URL set: what the request says
        "ws://testserver/graphql",
    )
    assert (config["environment"], config["release"]) == ("test", release())
    assert config["sentry"] == {
        "dsn": None,
        "environment": "test",
        "release": release(),
        "tracesSampleRate": 0.0,
        "tracePropagationTargets": ["http://testserver"],
    }
    assert {k: v for k, v in config["features"].items() if k != "analytics"} == {
        "billing": False,
        "push": False,
        "uploads": True,
        "search": False,
        "socialLogins": [],
    }
    limits = config["limits"]
    assert {k: v for k, v in limits.items() if k not in ("reactionEmoji", "rateLimits")} == {
        "chatMessageMaxLength": 2000,
        "partyMaxMembers": 1000,
        "mediaUrlMaxLength": 2048,
        "mediaTitleMaxLength": 240,
        "pollQuestionMaxLength": 300,
        "pollOptionMaxLength": 100,
        "pollMinOptions": 2,
        "pollMaxOptions": 10,
        "uploadMaxBytes": 5 * GIB,
        "uploadMaxBytesByPlan": [{"plan": "FREE", "uploadMaxBytes": 5 * GIB}],  # billing off
    }
    rates = {r["action"]: (r["count"], r["perSeconds"]) for r in limits["rateLimits"]}
    settings = api_embedded.settings
    assert rates["sendMessage"] == tuple(int(n) for n in settings.rate_limit_chat.split("/"))
    assert rates["sendReaction"] == tuple(int(n) for n in settings.rate_limit_reactions.split("/"))
    assert len(rates) == 10
    assert config["push"] == {"enabled": False, "vapidKey": None, "webConfig": None}
    # A Host behind the same server: the URLs follow it.
    other = check_shared(await read(api_embedded, {"host": "api.other.example"}))
    assert other["apiUrl"] == "http://api.other.example/graphql"


async def test_configured_server(tmp_path: Path) -> None:
    settings = make_settings(
        "embedded",
        database_url="",
        tmp=tmp_path,
        public_url="https://api.example.com",
        google_client_id="g-id",
        github_client_id="gh-id",
        stripe_secret_key="sk_test_x",
        stripe_publishable_key="pk_test_x",
        stripe_price_plus_monthly="price_plus_m",
        stripe_price_premium_yearly="price_premium_y",
        sentry_frontend_dsn="https://public@o1.ingest.sentry.io/2",
        sentry_environment="staging",
        sentry_release="web@1.2.3",
        upload_max_bytes=10 * GIB,
    )
    async with running_app(settings) as api:
        config = check_shared(await read(api, {"host": "internal:8000"}))
    assert (config["apiUrl"], config["websocketUrl"]) == (
        "https://api.example.com/graphql",
        "wss://api.example.com/graphql",
    )
    assert (config["environment"], config["release"]) == ("staging", "web@1.2.3")
    assert config["sentry"]["dsn"] == "https://public@o1.ingest.sentry.io/2"
    assert config["sentry"]["tracePropagationTargets"] == ["https://api.example.com"]
    assert config["features"]["billing"] is True
    assert config["features"]["socialLogins"] == [
        {"provider": "google", "loginUrl": "https://api.example.com/auth/oauth/google/login"},
        {"provider": "github", "loginUrl": "https://api.example.com/auth/oauth/github/login"},
    ]
    assert config["billing"] == {"enabled": True, "publishableKey": "pk_test_x"}
    assert config["limits"]["uploadMaxBytesByPlan"] == [
        {"plan": "FREE", "uploadMaxBytes": 1 * GIB},
        {"plan": "PLUS", "uploadMaxBytes": 5 * GIB},
        {"plan": "PREMIUM", "uploadMaxBytes": 10 * GIB},  # 20 GiB, capped by UPLOAD_MAX_BYTES
    ]


async def test_asked_over_the_websocket(tmp_path: Path) -> None:
    settings = make_settings("embedded", database_url="", tmp=tmp_path)
    async with (
        running_app(settings) as api,
        live_server(api.app) as url,
        graphql_socket(url) as socket,
    ):
        assert (await socket.init())["type"] == "connection_ack"
        [message, _complete] = await socket.execute("{ clientConfig { apiUrl websocketUrl } }")
    host = url.removeprefix("http://")
    assert message["payload"]["data"]["clientConfig"] == {
        "apiUrl": f"http://{host}/graphql",
        "websocketUrl": f"ws://{host}/graphql",
    }
