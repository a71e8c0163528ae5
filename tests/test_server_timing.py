"""Every HTTP response says how long the server took: `Server-Timing: app;dur=<ms>`."""

from __future__ import annotations

import re

from tests.support import Api

SERVER_TIMING = re.compile(r"app;dur=(\d+\.\d{2})")


async def test_a_graphql_response_carries_the_servers_time(any_api: Api) -> None:
    response = await any_api.gql("{ serverTime(clientTimeMs: 1) { clientTimeMs } }")
    assert response.body == {"data": {"serverTime": {"clientTimeMs": 1.0}}}
    found = SERVER_TIMING.fullmatch(response.headers["server-timing"])
    assert found is not None, response.headers["server-timing"]
    assert float(found.group(1)) > 0


async def test_an_error_response_carries_it_too_and_cors_exposes_it(any_api: Api) -> None:
    response = await any_api.client.post(
        "/graphql",
        content=b"{not json",
        headers={"content-type": "application/json", "origin": "http://localhost:3000"},
    )
    assert response.status_code == 400
    assert SERVER_TIMING.fullmatch(response.headers["server-timing"]) is not None
    exposed = response.headers.get("access-control-expose-headers", "").lower().split(", ")
    assert "server-timing" in exposed
