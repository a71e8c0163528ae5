"""Chat history reads: `party.messages(last: 50)` with 100k messages in the party.

    .venv/bin/python bench/chat_history.py                       # 100k messages, 300 reads
    .venv/bin/python bench/chat_history.py --messages 20000 --reads 100

A scratch PostgreSQL database (+ Redis prefix) and one `watchparty serve` subprocess. The party
and its members are made through the API; the messages are bulk-inserted with one
`INSERT ... SELECT generate_series` (authors rotating over 5 members, every 7th message a reply,
every 10th with 3 reactions). Then, over HTTP, sequentially: the first page (`last: 50`) and a
deep page (`before` the middle of the history), each `--reads` times; printed: p50/p99/mean.
Finally the SQL statements of one page for last: 10/50/100, counted with SQLAlchemy events on an
in-process app on the same database (the server is a separate process). No asserts.

The selection is what a chat view asks for (authors, reply previews, reactions with
reactedByMe), which the query cost model prices above its default limit of 5000 (it counts
every list as 100 items), so the server runs with GRAPHQL_MAX_COST=100000.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from common import Stack, gql, log, percentile, seed_accounts, stop_on_sigterm, watchparty_server

SELECTION = """
query History($id: ID!, $last: Int, $before: String) {
  party(id: $id) {
    messages(last: $last, before: $before) {
      edges { cursor node {
        id body createdAt edited deleted hidden clientId cursor
        author { id displayName avatarUrl }
        replyTo { id body author { id displayName } }
        reactions { emoji count reactedByMe }
      } }
      pageInfo { hasPreviousPage endCursor }
    }
  }
}
"""

SEED_SQL = """
INSERT INTO chat_messages (id, party_id, author_id, body, seq, created_at)
SELECT gen_random_uuid(), $1::uuid, ($2::uuid[])[1 + s % array_length($2::uuid[], 1)],
       'message number ' || s || ' of the bench history', s,
       now() - (($3::bigint - s) * interval '1 second')
FROM generate_series(1, $3::bigint) AS s
"""
REPLIES_SQL = """
UPDATE chat_messages AS m SET reply_to_id = p.id
FROM chat_messages AS p
WHERE m.party_id = $1::uuid AND p.party_id = $1::uuid AND m.seq % 7 = 0 AND p.seq = m.seq - 3
"""
REACTIONS_SQL = """
INSERT INTO chat_message_reactions (message_id, user_id, emoji, created_at)
SELECT m.id, u.id, e.emoji, now()
FROM chat_messages AS m
CROSS JOIN unnest($2::uuid[]) WITH ORDINALITY AS u(id, n)
CROSS JOIN (VALUES ('👍'), ('🔥')) AS e(emoji)
WHERE m.party_id = $1::uuid AND m.seq % 10 = 0 AND u.n <= 3 AND (e.emoji = '👍' OR u.n = 1)
"""


async def seed(stack: Stack, party_id: str, authors: list[str], count: int) -> float:
    import asyncpg

    url = stack.env["DATABASE_URL"]
    started = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await connection.execute(SEED_SQL, party_id, authors, count)
            await connection.execute(REPLIES_SQL, party_id)
            await connection.execute(REACTIONS_SQL, party_id, authors)
            await connection.execute(
                "INSERT INTO chat_counters (party_id, last_seq) VALUES ($1::uuid, $2)",
                party_id,
                count,
            )
        await connection.execute("ANALYZE chat_messages; ANALYZE chat_message_reactions")
    finally:
        await connection.close()
    return time.perf_counter() - started


async def timed_reads(
    client: httpx.AsyncClient, base: str, token: str, variables: dict[str, Any], reads: int
) -> list[float]:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        data = await gql(client, base, SELECTION, variables, token)
        times.append(time.perf_counter() - started)
        assert len(data["party"]["messages"]["edges"]) == variables["last"]
    return times


async def statements_per_page(stack: Stack, token: str, party_id: str, last: int) -> int:
    """One page through an in-process app on the same database, counting SQL statements."""
    from sqlalchemy import event

    from watchparty.app import create_app

    settings = stack.settings()
    app = create_app(settings)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with app.router.lifespan_context(app):
        engine = app.state.wp.engine.sync_engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            variables = {"id": party_id, "last": last, "before": None}
            await gql(client, "http://bench", SELECTION, variables, token)  # warm up
            event.listen(engine, "before_cursor_execute", count)
            try:
                await gql(client, "http://bench", SELECTION, variables, token)
            finally:
                event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def report(label: str, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    print(
        f"{label:<34} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   "
        f"mean {sum(ms) / len(ms):7.1f} ms   (n={len(ms)})"
    )


async def main(args: argparse.Namespace) -> None:
    stack = await Stack.create(
        "postgres",
        GRAPHQL_MAX_COST="100000",
        RATE_LIMIT_CHAT="100000/10",
        AUTO_MIGRATE="false",
    )
    server = watchparty_server(stack, "serve")
    try:
        accounts = await seed_accounts(stack, 5, "chat")
        host = accounts[0]
        await server.start()
        base = server.base_url
        async with httpx.AsyncClient() as client:
            created = await gql(
                client,
                base,
                """mutation($input: CreatePartyInput!) { createParty(input: $input) {
                    ... on PartyPayload { party { id code } } } }""",
                {"input": {"title": "Chat bench", "visibility": "PUBLIC"}},
                host.token,
            )
            party = created["createParty"]["party"]
            for member in accounts[1:]:
                await gql(
                    client,
                    base,
                    """mutation($input: JoinPartyInput!) { joinParty(input: $input) {
                        __typename } }""",
                    {"input": {"code": party["code"]}},
                    member.token,
                )
            authors = [str(a.user_id) for a in accounts]
            seconds = await seed(stack, party["id"], authors, args.messages)
            log(f"seeded {args.messages} messages in {seconds:.1f} s")
            first = {"id": party["id"], "last": 50, "before": None}
            deep = {"id": party["id"], "last": 50, "before": str(args.messages // 2)}
            await timed_reads(client, base, host.token, first, 10)  # warm up
            print(f"party.messages with {args.messages} messages in the party, over HTTP:")
            report(
                "messages(last: 50)", await timed_reads(client, base, host.token, first, args.reads)
            )
            report(
                f"messages(last: 50, before: {deep['before']})",
                await timed_reads(client, base, host.token, deep, args.reads),
            )
        print("SQL statements per page (whole request, incl. auth):")
        for last in (10, 50, 100):
            count = await statements_per_page(stack, host.token, party["id"], last)
            print(f"  last: {last:<3} -> {count}")
    finally:
        await server.stop()
        await stack.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=300)
    return parser.parse_args()


if __name__ == "__main__":
    stop_on_sigterm()
    asyncio.run(main(parse_args()))
