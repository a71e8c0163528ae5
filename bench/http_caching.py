"""Conditional GETs: bytes and time saved on repeated reads of `clientConfig` and a listing.

    .venv/bin/python bench/http_caching.py                     # embedded, 500 reads each
    .venv/bin/python bench/http_caching.py --stack postgres --reads 1000

One `watchparty serve` process (`common.Stack`). For each query, `--reads` sequential GETs
without validators (200 with the body) and as many with `If-None-Match` set to the ETag of the
first answer (304, no body). Printed per query: response body bytes and time p50 / p99 of a
200 and of a 304, and the share of bytes saved. A persisted-query GET (hash only) is timed too.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time

import httpx
from common import Stack, log, percentile, stop_on_sigterm, watchparty_server

QUERIES = {
    "clientConfig": """{ clientConfig { apiUrl websocketUrl environment release
        sentry { dsn environment release tracesSampleRate tracePropagationTargets }
        features { billing push uploads search analytics socialLogins { provider loginUrl } }
        limits { chatMessageMaxLength reactionEmoji uploadMaxBytes
            uploadMaxBytesByPlan { plan uploadMaxBytes } rateLimits { action count perSeconds } }
        billing { enabled publishableKey } push { enabled vapidKey }
        providers { type name player supportsSeek supportsRate isLive acceptsLinks } } }""",
    "plans": "{ plans { id name prices { interval amount currency } } billingConfig { enabled } }",
    "publicParties (private)": "{ publicParties(first: 20) { totalCount "
    "edges { node { id title } } } }",
}


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1000:.2f} ms, p99 {percentile(values, 99) * 1000:.2f} ms"


async def timed(
    client: httpx.AsyncClient, params: dict[str, str], **headers: str
) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.get("/graphql", params=params, headers=headers)
    return time.perf_counter() - started, response


async def measure(client: httpx.AsyncClient, name: str, query: str, reads: int) -> None:
    _, first = await timed(client, {"query": query})
    etag = first.headers.get("etag")
    assert first.status_code == 200 and etag, (first.status_code, first.text[:200])
    full, cached = [], []
    for _ in range(reads):
        took, response = await timed(client, {"query": query})
        assert response.status_code == 200
        full.append(took)
    for _ in range(reads):
        took, response = await timed(client, {"query": query}, **{"if-none-match": etag})
        assert response.status_code == 304 and not response.content
        cached.append(took)
    size = len(first.content)
    print(f"{name}: Cache-Control {first.headers['cache-control']!r}")
    print(f"  200: {size} body bytes, {ms(full)}")
    print(
        f"  304: 0 body bytes, {ms(cached)}  ({size * reads} body bytes saved over {reads} reads)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=("embedded", "postgres"), default="embedded")
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    stop_on_sigterm()
    stack = await Stack.create(args.stack)
    server = watchparty_server(stack, "api")
    try:
        await server.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            for name, query in QUERIES.items():
                await measure(client, name, query, args.reads)
            query = QUERIES["clientConfig"]
            digest = hashlib.sha256(query.encode()).hexdigest()
            extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})
            await client.post(
                "/graphql", json={"query": query, "extensions": json.loads(extensions)}
            )
            persisted = []
            for _ in range(args.reads):
                took, response = await timed(client, {"extensions": extensions})
                assert response.status_code == 200 and "errors" not in response.json()
                persisted.append(took)
            url_bytes = len(str(httpx.URL("/graphql", params={"query": query})))
            hash_bytes = len(str(httpx.URL("/graphql", params={"extensions": extensions})))
            print(
                f"persisted clientConfig GET: URL {hash_bytes} bytes "
                f"(with the query: {url_bytes}), {ms(persisted)}"
            )
    finally:
        log("stopping")
        await server.stop()
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
