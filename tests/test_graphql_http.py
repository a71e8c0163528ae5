"""GraphQL over HTTP: media types, status codes, GET rules, body limit, GraphiQL, introspection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from graphql import get_introspection_query

from tests.support import PASSWORD, Api, make_settings, running_app, unique_email

MODERN = "application/graphql-response+json"
LEGACY = "application/json"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { __typename } }"""


async def post(
    api: Api, body: Any, *, accept: str | None = MODERN, content_type: str | None = LEGACY
) -> httpx.Response:
    headers = {}
    if accept is not None:
        headers["accept"] = accept
    if content_type is not None:
        headers["content-type"] = content_type
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return await api.client.post("/graphql", content=content, headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


async def test_modern_media_type_is_honoured(api: Api) -> None:
    response = await post(api, {"query": "{ me { id } }"})
    assert response.status_code == 200
    assert media_type(response) == MODERN
    assert response.json() == {"data": {"me": None}}


async def test_legacy_and_wildcard_accept_get_application_json(api: Api) -> None:
    for accept in (LEGACY, "*/*", None, "text/html;q=0.9, application/*"):
        response = await post(api, {"query": "{ __typename }"}, accept=accept)
        assert (response.status_code, media_type(response)) == (200, LEGACY), accept
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_preferred_type_wins_by_quality(api: Api) -> None:
    both = await post(api, {"query": "{ __typename }"}, accept=f"{MODERN}, {LEGACY};q=0.9")
    assert media_type(both) == MODERN
    legacy_first = await post(api, {"query": "{ __typename }"}, accept=f"{MODERN};q=0.5, {LEGACY}")
    assert media_type(legacy_first) == LEGACY


async def test_document_errors_are_400_without_data_for_modern_clients(api: Api) -> None:
    cases = {
        "parse": {"query": "{ me { id "},
        "validation": {"query": "{ me { noSuchField } }"},
        "variables": {"query": "query($n: Int!) { __typename }", "variables": {"n": "nope"}},
    }
    for name, body in cases.items():
        response = await post(api, body)
        assert response.status_code == 400, name
        assert media_type(response) == MODERN
        payload = response.json()
        assert "data" not in payload, name
        assert len(payload["errors"]) == 1, payload


async def test_document_errors_are_200_for_legacy_clients(api: Api) -> None:
    response = await post(api, {"query": "{ me { noSuchField } }"}, accept=LEGACY)
    assert response.status_code == 200
    payload = response.json()
    assert "data" not in payload
    assert payload["errors"][0]["message"] == "Cannot query field 'noSuchField' on type 'User'."


async def test_request_errors_are_400_for_both_media_types(api: Api) -> None:
    bad_bodies: list[Any] = [
        "{not json",
        b"\xff\xfe\x00garbage",
        [{"query": "{ __typename }"}],
        5,
        {"query": 7},
        {"query": "{ __typename }", "variables": "{}"},
        {"query": "{ __typename }", "operationName": ["x"]},
        {"query": "{ __typename }", "extensions": []},
        {},
    ]
    for accept in (MODERN, LEGACY):
        for body in bad_bodies:
            response = await post(api, body, accept=accept)
            assert response.status_code == 400, (accept, body, response.text)
            assert media_type(response) == accept
            payload = response.json()
            assert "data" not in payload
            assert payload["errors"][0]["message"]


async def test_unsupported_media_type_is_415(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        response = await post(api, {"query": "{ __typename }"}, content_type=content_type)
        assert response.status_code == 415, content_type
        assert response.json() == {
            "errors": [{"message": "Send GraphQL requests as application/json."}]
        }


async def test_get_runs_queries(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={
            "query": "query Q($x: Boolean!) { __typename @include(if: $x) }",
            "variables": '{"x": true}',
        },
        headers={"accept": MODERN},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_get_refuses_mutations_with_405_and_does_not_run_them(api: Api) -> None:
    email = unique_email()
    register = "mutation($input: RegisterInput!) { register(input: $input) { __typename } }"
    variables = {"input": {"email": email, "password": PASSWORD, "displayName": "Get"}}
    response = await api.client.get(
        "/graphql",
        params={"query": register, "variables": json.dumps(variables)},
        headers={"accept": MODERN},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {"errors": [{"message": "Mutations must be sent with POST."}]}
    login = await api.gql(LOGIN, {"input": {"email": email, "password": PASSWORD}})
    assert login.data["login"]["__typename"] == "InvalidCredentials"  # never registered


async def test_subscriptions_are_refused_over_http(api: Api) -> None:
    response = await post(api, {"query": "subscription { me { id } }"})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Subscriptions run over the WebSocket (graphql-transport-ws)."}]
    }


async def test_graphiql_is_served_outside_production(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_full_introspection_works_outside_production(api: Api) -> None:
    """GraphiQL's own introspection query passes the depth and cost limits."""
    response = await post(api, {"query": get_introspection_query(descriptions=True)})
    assert response.status_code == 200
    types = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
    assert {"Query", "Mutation", "User", "UserError", "ErrorCode"} <= types


@asynccontextmanager
async def _small_app(tmp: Path, **overrides: Any) -> AsyncIterator[Api]:
    settings = make_settings("embedded", database_url="", tmp=tmp, **overrides)
    async with running_app(settings) as api:
        yield api


async def test_body_over_the_limit_is_413_before_parsing(tmp: Path) -> None:
    query = {"query": "{ __typename }"}
    limit = 200
    async with _small_app(tmp, max_body_bytes=limit) as api:
        exact = json.dumps(query).encode()
        exact += b" " * (limit - len(exact))
        assert (await post(api, exact)).status_code == 200  # exactly at the limit is fine

        too_big = exact + b" "
        response = await post(api, too_big)
        assert response.status_code == 413
        assert response.json() == {
            "errors": [{"message": f"The request body is larger than {limit} bytes."}]
        }

        async def chunks() -> AsyncIterator[bytes]:
            # No Content-Length: the body is counted as it streams in.
            yield b'{"query": "{ __typename }", "x": "'
            for _ in range(10):
                yield b"a" * 50
            yield b'"}'

        streamed = await api.client.post(
            "/graphql", content=chunks(), headers={"content-type": LEGACY, "accept": MODERN}
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413

        not_json = await post(api, b"x" * (limit + 1))  # too big wins over unparseable
        assert not_json.status_code == 413


async def test_production_turns_off_introspection_and_graphiql(pg_url: str, tmp: Path) -> None:
    settings = make_settings(
        "postgres",
        database_url=pg_url,
        tmp=tmp,
        app_env="production",
        jwt_keys="prod:" + "k" * 40,
        jwt_active_kid="prod",
        public_url="https://api.watchparty.example",
    )
    async with running_app(settings, worker=False) as api:
        introspection = await post(api, {"query": "{ __schema { types { name } } }"})
        assert introspection.status_code == 400
        message = introspection.json()["errors"][0]["message"]
        assert "introspection" in message.lower()
        typename = await post(api, {"query": "{ __typename me { id } }"})
        assert typename.json() == {"data": {"__typename": "Query", "me": None}}
        ide = await api.client.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 404
