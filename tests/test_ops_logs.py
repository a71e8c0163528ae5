"""Structured access logs: one JSON line per request, joined to everything else by request id."""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.support import Api
from watchparty.logs import JsonFormatter


def access_records(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "watchparty.access" and r.path == path]  # type: ignore[attr-defined]


async def test_each_request_is_logged_once_with_its_request_id(
    any_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchparty.access")
    response = await any_api.client.get("/readyz", headers={"x-request-id": "req-42.a:b"})
    assert response.headers["x-request-id"] == "req-42.a:b"

    (record,) = access_records(caplog, "/readyz")
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "msg", "method", "path", "status")} == {
        "level": "info",
        "logger": "watchparty.access",
        "msg": "GET /readyz 200",
        "method": "GET",
        "path": "/readyz",
        "status": 200,
    }
    assert line["request_id"] == "req-42.a:b"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"


async def test_untrusted_request_ids_are_replaced(
    api_embedded: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchparty.access")
    response = await api_embedded.client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"x-request-id": "bad id\twith spaces"}
    )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (record,) = access_records(caplog, "/graphql")
    assert (record.method, record.status, record.request_id) == ("POST", 200, request_id)  # type: ignore[attr-defined]

    other = await api_embedded.client.get("/healthz")
    assert other.headers["x-request-id"] != request_id


async def test_signed_url_tokens_never_reach_the_access_log(
    api_embedded: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchparty.access")
    secret = "c2VjcmV0LXRva2Vu.1999999999.bWFj"
    media = await api_embedded.client.get(f"/media/{secret}/hls/master.m3u8")
    upload = await api_embedded.client.head(f"/uploads/{secret}")
    assert (media.status_code, upload.status_code) == (403, 403)
    logged = [r.getMessage() for r in caplog.records if r.name == "watchparty.access"]
    assert "GET /media/***/hls/master.m3u8 403" in logged
    assert "HEAD /uploads/*** 403" in logged
    assert not [line for line in logged if secret in line]
