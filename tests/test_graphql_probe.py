"""Masking, limits and socket quotas, through the real view and extensions on the probe schema.

See tests/graphql_probe.py for why a probe schema (and not test-only production fields).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.graphql_probe import SECRET, probe_server
from tests.support import Api, graphql_socket

MODERN = "application/graphql-response+json"
MAX_COST = 400


@pytest.fixture(scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Api, str]]:
    async with probe_server(
        tmp_path_factory.mktemp("probe"),
        graphql_max_cost=MAX_COST,
        graphql_max_depth=8,
        graphql_max_aliases=3,
        graphql_max_tokens=400,
        ws_max_operations=2,
    ) as served:
        yield served


async def query(api: Api, text: str, variables: dict[str, Any] | None = None) -> tuple[int, Any]:
    response = await api.client.post(
        "/graphql",
        json={"query": text, "variables": variables or {}},
        headers={"accept": MODERN},
    )
    return response.status_code, response.json()


def masked_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "watchparty.graphql" and hasattr(r, "correlation_id")
    ]


# --- masking ------------------------------------------------------------------------------------


async def test_unexpected_resolver_error_is_masked_and_logged(
    probe: tuple[Api, str], caplog: pytest.LogCaptureFixture
) -> None:
    api, _ = probe
    caplog.set_level(logging.ERROR, logger="watchparty.graphql")
    status, body = await query(api, "{ ok boom }")
    assert status == 200  # execution started: a field error, not a request error
    assert body["data"] is None  # `boom: String!` nulls its parent
    [error] = body["errors"]
    correlation_id = error["extensions"]["correlationId"]
    assert error == {
        "message": "Unexpected error.",
        "locations": [{"line": 1, "column": 6}],
        "path": ["boom"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id},
    }
    assert SECRET not in str(body)
    [record] = [
        r for r in masked_records(caplog) if getattr(r, "correlation_id", None) == correlation_id
    ]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == SECRET
    assert "raise RuntimeError(SECRET)" in logging.Formatter().formatException(record.exc_info)


async def test_each_masked_error_gets_its_own_correlation_id(probe: tuple[Api, str]) -> None:
    api, _ = probe
    _, first = await query(api, "{ boom }")
    _, second = await query(api, "{ boom }")
    ids = {
        first["errors"][0]["extensions"]["correlationId"],
        second["errors"][0]["extensions"]["correlationId"],
    }
    assert len(ids) == 2


async def test_masked_errors_carry_the_request_id(probe: tuple[Api, str]) -> None:
    """The correlation id is the request's (X-Request-ID), echoed on the response."""
    api, _ = probe
    response = await api.client.post(
        "/graphql", json={"query": "{ boom }"}, headers={"x-request-id": "front-7f3a"}
    )
    assert response.headers["x-request-id"] == "front-7f3a"
    assert response.json()["errors"][0]["extensions"]["correlationId"] == "front-7f3a"
    made = await api.client.post("/graphql", json={"query": "{ boom }"})
    assert made.json()["errors"][0]["extensions"]["correlationId"] == made.headers["x-request-id"]


async def test_error_raised_inside_a_subscription_is_masked(
    probe: tuple[Api, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, url = probe
    caplog.set_level(logging.ERROR, logger="watchparty.graphql")
    async with graphql_socket(url) as socket:
        assert (await socket.init())["type"] == "connection_ack"
        messages = await socket.execute("subscription { failsAfter(count: 2) }")
    assert [m["type"] for m in messages] == ["next", "next", "next", "complete"]
    assert [m["payload"]["data"] for m in messages[:2]] == [{"failsAfter": 0}, {"failsAfter": 1}]
    [error] = messages[2]["payload"]["errors"]
    correlation_id = error["extensions"]["correlationId"]
    assert error == {
        "message": "Unexpected error.",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id},
    }
    assert SECRET not in str(messages)
    [record] = [
        r for r in masked_records(caplog) if getattr(r, "correlation_id", None) == correlation_id
    ]
    assert str(record.exc_info[1]) == SECRET  # type: ignore[index]


async def test_query_over_socket_is_masked(probe: tuple[Api, str]) -> None:
    _, url = probe
    async with graphql_socket(url) as socket:
        await socket.init()
        [result, complete] = await socket.execute("{ boom }")
    assert complete["type"] == "complete"
    [error] = result["payload"]["errors"]
    assert (error["message"], error["extensions"]["code"]) == (
        "Unexpected error.",
        "INTERNAL_SERVER_ERROR",
    )


# --- cost ---------------------------------------------------------------------------------------

ITEMS = "query($n: Int) { items(first: $n) { edges { node { id name } } } }"  # 1 + n * 4


async def test_cost_multiplies_by_page_size_from_variables(probe: tuple[Api, str]) -> None:
    api, _ = probe
    status, body = await query(api, ITEMS, {"n": 99})  # 1 + 99 * 4 = 397
    assert status == 200
    assert len(body["data"]["items"]["edges"]) == 3
    status, body = await query(api, ITEMS, {"n": 100})  # 401
    assert status == 400
    assert body == {
        "errors": [
            {
                "message": f"Query cost 401 exceeds the limit of {MAX_COST}. "
                "Ask for smaller pages (first/last) or fewer nested lists.",
                "locations": [{"line": 1, "column": 1}],
                "extensions": {"code": "QUERY_COST_EXCEEDED", "cost": 401, "maxCost": MAX_COST},
            }
        ]
    }


async def test_cost_caps_and_defaults_page_size_at_100(probe: tuple[Api, str]) -> None:
    api, _ = probe
    for text in (
        "{ items(first: 5000) { edges { node { id name } } } }",  # capped at 100
        "{ items { edges { node { id name } } } }",  # no page size: 100
        "{ items(last: 100) { edges { node { id name } } } }",
        "query($n: Int) { items(first: $n) { edges { node { id name } } } }",  # $n not given
    ):
        status, body = await query(api, text)
        assert status == 400, text
        assert body["errors"][0]["extensions"]["cost"] == 401, text


async def test_cost_uses_literal_defaults_and_nesting(probe: tuple[Api, str]) -> None:
    api, _ = probe
    # recent(first: Int = 10): 1 + 10 * (id + name) = 21; tags (a scalar list) = 1; ok = 1.
    status, _ = await query(api, "{ recent { id name } tags ok }")
    assert status == 200
    # items(first: 3): 1 + 3 * (edges 1 + node (1 + id 1 + children(first: 40) (1 + 40 * 3)))
    #                = 1 + 3 * (1 + 1 + 1 + 121) = 373
    nested = (
        "{ items(first: 3) { edges { node { id "
        "children(first: 40) { edges { node { id } } } } } } }"
    )
    assert (await query(api, nested))[0] == 200
    status, body = await query(api, nested.replace("first: 40", "first: 41"))  # 1 + 3 * 127 = 382
    assert status == 200
    status, body = await query(api, nested.replace("first: 3)", "first: 4)"))  # 1 + 4 * 124 = 497
    assert (status, body["errors"][0]["extensions"]["cost"]) == (400, 497)


async def test_unpaginated_object_lists_are_priced_pessimistically(probe: tuple[Api, str]) -> None:
    api, _ = probe
    status, body = await query(api, "{ related { id name } }")  # 1 + 100 * 2 = 201
    assert status == 200
    assert body["data"] == {"related": [{"id": "r", "name": "related"}]}
    status, body = await query(api, "{ related { id name } again: related { id name } }")  # 402
    assert (status, body["errors"][0]["extensions"]["cost"]) == (400, 402)


async def test_fragments_are_priced_where_spread(probe: tuple[Api, str]) -> None:
    api, _ = probe
    text = """
        query { items(first: 100) { ...Page } }
        fragment Page on ItemConnection { edges { node { ...Fields } } totalCount }
        fragment Fields on Item { id name }
    """  # 1 + 100 * (edges 4 + totalCount 1) = 501
    status, body = await query(api, text)
    assert (status, body["errors"][0]["extensions"]["cost"]) == (400, 501)


async def test_only_the_selected_operation_is_priced(probe: tuple[Api, str]) -> None:
    api, _ = probe
    text = "query Cheap { ok } query Dear { items { edges { node { id name } } } }"
    response = await api.client.post(
        "/graphql", json={"query": text, "operationName": "Cheap"}, headers={"accept": MODERN}
    )
    assert (response.status_code, response.json()) == (200, {"data": {"ok": "fine"}})


# --- depth, aliases, tokens ---------------------------------------------------------------------


async def test_depth_limit(probe: tuple[Api, str]) -> None:
    api, _ = probe
    level = "children(first: 1) { edges { node { %s } } }"
    deep = "{ items(first: 1) { edges { node { %s } } } }" % (level % (level % "id"))
    status, body = await query(api, deep)
    assert status == 400
    assert body["errors"][0]["message"] == "'anonymous' exceeds maximum operation depth of 8"


async def test_alias_limit(probe: tuple[Api, str]) -> None:
    api, _ = probe
    assert (await query(api, "{ a: ok b: ok c: ok }"))[0] == 200
    status, body = await query(api, "{ a: ok b: ok c: ok d: ok }")
    assert (status, body["errors"][0]["message"]) == (400, "4 aliases found. Allowed: 3")


async def test_token_limit(probe: tuple[Api, str]) -> None:
    api, _ = probe
    status, body = await query(api, "{ " + "ok " * 400 + "}")
    assert status == 400
    assert (
        body["errors"][0]["message"]
        == "Syntax Error: Document contains more than 400 tokens. Parsing aborted."
    )


# --- socket quotas ------------------------------------------------------------------------------


async def test_operations_per_socket_are_limited(probe: tuple[Api, str]) -> None:
    _, url = probe
    async with graphql_socket(url) as socket:
        await socket.init()
        first = await socket.subscribe("subscription { forever }")
        second = await socket.subscribe("subscription { forever }")
        seen = {(await socket.receive())["id"], (await socket.receive())["id"]}
        assert seen == {first, second}
        third = await socket.subscribe("subscription { forever }")
        refused = await socket.receive()
        assert refused == {
            "id": third,
            "type": "error",
            "payload": [{"message": "Subscription limit reached"}],
        }
        # Completing one frees a slot.
        await socket.send({"id": first, "type": "complete"})
        fourth = await socket.subscribe("subscription { forever }")
        assert (await socket.receive()) == {
            "id": fourth,
            "type": "next",
            "payload": {"data": {"forever": 0}},
        }


async def test_limits_apply_over_the_socket_too(probe: tuple[Api, str]) -> None:
    _, url = probe
    async with graphql_socket(url) as socket:
        await socket.init()
        [error] = await socket.execute("{ items { edges { node { id name } } } }")
    assert error["type"] == "error"
    assert error["payload"][0]["extensions"] == {
        "code": "QUERY_COST_EXCEEDED",
        "cost": 401,
        "maxCost": MAX_COST,
    }


def test_probe_module_has_no_production_fields() -> None:
    """The failing fields exist only in the probe schema, never in the product's."""
    from watchparty.schema import export_sdl

    sdl = export_sdl()
    assert "boom" not in sdl and "failsAfter" not in sdl
