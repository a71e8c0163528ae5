"""HTTP caching of `GET /graphql` (ETag, 304, Cache-Control per operation), automatic persisted
queries (found, not found, mismatch, shared through Redis), trusted documents, and request
correlation (X-Request-ID)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.parties_ops import person
from tests.support import Api, make_settings, running_app
from watchparty.config import ConfigurationError

PUBLIC = "public, max-age=300"
PRIVATE = "private, no-cache"
STRONG_ETAG = re.compile(r'"[0-9a-f]{32}"')
CONFIG_QUERY = "{ clientConfig { apiUrl providers { type } } }"


async def get(api: Api, params: dict[str, Any], **headers: str) -> httpx.Response:
    return await api.client.get("/graphql", params=params, headers=headers)


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def apq(digest: str) -> str:
    return json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})


async def test_public_queries_are_cacheable_and_revalidate_with_304(any_api: Api) -> None:
    first = await get(any_api, {"query": CONFIG_QUERY})
    assert first.status_code == 200
    assert first.headers["cache-control"] == PUBLIC
    assert first.headers["vary"] == "Accept, Authorization, Origin"  # Origin: CORS
    etag = first.headers["etag"]
    assert STRONG_ETAG.fullmatch(etag)

    again = await get(any_api, {"query": CONFIG_QUERY}, **{"if-none-match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert (again.headers["etag"], again.headers["cache-control"]) == (etag, PUBLIC)
    listed = await get(any_api, {"query": CONFIG_QUERY}, **{"if-none-match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    changed = await get(any_api, {"query": CONFIG_QUERY}, **{"if-none-match": '"stale"'})
    assert (changed.status_code, changed.headers["etag"]) == (200, etag)

    # The policy is the most restrictive of the root fields (fragments included).
    every = await get(
        any_api,
        {
            "query": "query Q { ...F pushConfig { enabled } allowedEmoji } "
            "fragment F on Query { plans { id } billingConfig { enabled } __typename }",
            "operationName": "Q",
        },
    )
    assert every.headers["cache-control"] == PUBLIC


async def test_viewer_dependent_or_authenticated_answers_are_private(any_api: Api) -> None:
    mixed = await get(any_api, {"query": "{ clientConfig { apiUrl } me { id } }"})
    assert mixed.headers["cache-control"] == PRIVATE
    etag = mixed.headers["etag"]  # private answers still revalidate
    again = await get(
        any_api, {"query": "{ clientConfig { apiUrl } me { id } }"}, **{"if-none-match": etag}
    )
    assert again.status_code == 304

    someone = await person(any_api)
    signed_in = await get(any_api, {"query": CONFIG_QUERY}, authorization=f"Bearer {someone.token}")
    assert signed_in.headers["cache-control"] == PRIVATE


async def test_errors_are_never_stored(any_api: Api) -> None:
    for params in (
        {"query": "{ nope }"},  # validation: 200 with errors (application/json)
        {"query": "query($n: Int!) { plans { id } }", "variables": '{"n": "x"}'},
        {"query": "{ plans { id "},  # syntax
    ):
        response = await get(any_api, params)
        assert response.headers["cache-control"] == "no-store", params
        assert "etag" not in response.headers
    modern = await get(any_api, {"query": "{ nope }"}, accept="application/graphql-response+json")
    assert (modern.status_code, modern.headers["cache-control"]) == (400, "no-store")
    # POST answers carry no validators.
    posted = await any_api.client.post("/graphql", json={"query": CONFIG_QUERY})
    assert "etag" not in posted.headers


async def test_automatic_persisted_queries(any_api: Api) -> None:
    query = "{ clientConfig { websocketUrl } }"
    digest = sha(query)
    missing = await get(any_api, {"extensions": apq(digest)})
    assert missing.status_code == 200
    assert missing.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert missing.headers["cache-control"] == "no-store"

    registered = await any_api.client.post(
        "/graphql", json={"query": query, "extensions": json.loads(apq(digest))}
    )
    assert registered.json() == {
        "data": {"clientConfig": {"websocketUrl": "ws://testserver/graphql"}}
    }
    found = await get(any_api, {"extensions": apq(digest)})
    assert found.json() == registered.json()
    assert found.headers["cache-control"] == PUBLIC
    assert STRONG_ETAG.fullmatch(found.headers["etag"])

    mismatch = await get(any_api, {"query": "{ plans { id } }", "extensions": apq(digest)})
    assert mismatch.status_code == 400
    assert mismatch.json() == {
        "errors": [
            {"message": "provided sha does not match query", "extensions": {"code": "BAD_REQUEST"}}
        ]
    }
    wrong_version = await get(
        any_api,
        {"extensions": json.dumps({"persistedQuery": {"version": 2, "sha256Hash": digest}})},
    )
    assert wrong_version.status_code == 400
    assert wrong_version.json()["errors"][0]["message"] == (
        "Only persistedQuery version 1 is supported."
    )


async def test_persisted_queries_are_shared_through_redis(pg_url: str, tmp_path: Path) -> None:
    prefix = f"wptest-apq-{tmp_path.name[-8:]}:"
    query = "{ plans { id } }"
    digest = sha(query)
    one = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path / "a", redis_key_prefix=prefix
    )
    two = make_settings(
        "postgres", database_url=pg_url, tmp=tmp_path / "b", redis_key_prefix=prefix
    )
    async with running_app(one, worker=False) as first, running_app(two, worker=False) as second:
        stored = await first.client.post(
            "/graphql", json={"query": query, "extensions": json.loads(apq(digest))}
        )
        assert stored.json() == {"data": {"plans": [{"id": "FREE"}]}}
        found = await get(second, {"extensions": apq(digest)})
        assert found.json() == stored.json()
        ttl = await second.state.redis.ttl(f"{prefix}apq:{digest}")  # type: ignore[union-attr]
        assert 0 < ttl <= second.settings.apq_ttl_seconds
        await second.state.redis.delete(f"{prefix}apq:{digest}")  # type: ignore[union-attr]


async def test_trusted_documents_mode(tmp_path: Path) -> None:
    allowed = "query Config { clientConfig { apiUrl } }"
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({sha(allowed): allowed}))
    settings = make_settings(
        "embedded", database_url="", tmp=tmp_path, trusted_documents_file=str(manifest)
    )
    async with running_app(settings) as api:
        by_hash = await get(api, {"extensions": apq(sha(allowed))})
        assert by_hash.json() == {"data": {"clientConfig": {"apiUrl": "http://testserver/graphql"}}}
        by_text = await api.client.post("/graphql", json={"query": allowed})
        assert by_text.json() == by_hash.json()
        other = await api.client.post("/graphql", json={"query": "{ plans { id } }"})
        assert other.status_code == 400
        assert other.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_ALLOWED"}
        unknown = await get(api, {"extensions": apq(sha("{ plans { id } }"))})
        assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    manifest.write_text(json.dumps({"0" * 64: allowed}))
    try:
        make_settings(
            "embedded", database_url="", tmp=tmp_path, trusted_documents_file=str(manifest)
        ).check()
    except ConfigurationError as exc:
        assert "do not match" in str(exc)
    else:
        raise AssertionError("a manifest with a wrong hash must be refused")


async def test_request_id_is_echoed_or_made(api_embedded: Api) -> None:
    sent = await get(api_embedded, {"query": CONFIG_QUERY}, **{"x-request-id": "front-123.a"})
    assert sent.headers["x-request-id"] == "front-123.a"
    made = await get(api_embedded, {"query": CONFIG_QUERY}, **{"x-request-id": "x" * 65})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    traced = await get(
        api_embedded,
        {"query": CONFIG_QUERY},
        **{"sentry-trace": "771a43a4192642f0b136d5159a501700-b7ad6b7169203331-1", "baggage": "x=1"},
    )
    assert traced.status_code == 200  # accepted (continued by Sentry's integration when on)
    preflight = await api_embedded.client.options(
        "/graphql",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "GET",
            "access-control-request-headers": "sentry-trace, baggage, x-request-id, if-none-match",
        },
    )
    assert preflight.status_code == 200
