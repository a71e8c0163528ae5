"""`Query.iceServers`: STUN as configured, TURN with time-limited REST-scheme credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.parties_ops import person
from tests.support import Api, make_settings, running_app
from watchparty.voice.ice import turn_credential

ICE = "query { iceServers { urls username credential credentialExpiresAt } }"


async def ice(api: Api, token: str | None) -> Any:
    return (await api.gql(ICE, token=token)).body


def test_turn_credential_matches_a_known_value() -> None:
    # echo -n "1700000000:user" | openssl dgst -sha1 -hmac secret -binary | base64
    assert turn_credential("secret", "1700000000:user") == "I/MZeIG6MwzOV8Uubr9liB2556o="


async def test_anonymous_callers_get_an_error(any_api: Api) -> None:
    body = await ice(any_api, None)
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "You need to sign in.",
            "path": ["iceServers"],
            "extensions": {"code": "NOT_AUTHENTICATED"},
        }
    ]


async def test_default_settings_give_stun_only(any_api: Api) -> None:
    who = await person(any_api)
    assert (await ice(any_api, who.token))["data"]["iceServers"] == [
        {
            "urls": ["stun:stun.l.google.com:19302"],
            "username": None,
            "credential": None,
            "credentialExpiresAt": None,
        }
    ]


async def test_turn_credentials_follow_the_rest_scheme(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp_path,
        stun_urls="stun:a.example.org:3478, stun:b.example.org:3478",
        turn_urls="turn:t.example.org:3478?transport=udp,turns:t.example.org:5349",
        turn_secret="turn-shared-secret",
        turn_credential_ttl_seconds=600,
    )
    async with running_app(settings, worker=False) as api:
        who = await person(api)
        before = int(time.time())
        servers = (await ice(api, who.token))["data"]["iceServers"]
        after = int(time.time())
    stun, turn = servers
    assert stun == {
        "urls": ["stun:a.example.org:3478", "stun:b.example.org:3478"],
        "username": None,
        "credential": None,
        "credentialExpiresAt": None,
    }
    expiry_text, _, user_id = turn["username"].partition(":")
    expiry = int(expiry_text)
    assert before + 600 <= expiry <= after + 600
    assert user_id == who.id
    digest = hmac.new(b"turn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn == {
        "urls": ["turn:t.example.org:3478?transport=udp", "turns:t.example.org:5349"],
        "username": f"{expiry}:{who.id}",
        "credential": base64.b64encode(digest).decode(),
        "credentialExpiresAt": turn["credentialExpiresAt"],
    }
    assert datetime.fromisoformat(turn["credentialExpiresAt"]).timestamp() == expiry


async def test_no_turn_without_secret_or_urls(pg_url: str, tmp_path: Path) -> None:
    for index, overrides in enumerate(
        (
            {"turn_urls": "turn:t.example.org:3478", "turn_secret": ""},
            {"turn_urls": "", "turn_secret": "s"},
        )
    ):
        settings = make_settings(
            "postgres", database_url=pg_url, tmp=tmp_path / str(index), stun_urls="", **overrides
        )
        async with running_app(settings, worker=False) as api:
            who = await person(api)
            assert (await ice(api, who.token))["data"]["iceServers"] == []
