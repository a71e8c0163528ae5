"""`watchparty notify`: an announcement to every active account (in batches, idempotent per id)
or to one, run as a real subprocess against the database an app is serving; the feed and the
live stream are read through that app."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.notifications_ops import MARK_READ, feed, mutate, stream
from tests.ops_support import command_env, run_command, scratch_database
from tests.parties_ops import Person
from tests.support import (
    REDIS_URL,
    Api,
    live_server,
    make_settings,
    running_app,
    unique_email,
)
from watchparty.accounts.models import User
from watchparty.notifications import service


@dataclass
class Setup:
    api: Api
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_command(["notify", *args], self.env, self.cwd)

    async def arun(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.run, *args)


@asynccontextmanager
async def setup(tmp_path: Path, backend: str) -> AsyncIterator[Setup]:
    """An app on a database of its own, and the command's environment for the same database
    (and, on PostgreSQL, the same Redis prefix: what the command writes is live on the app)."""
    if backend == "embedded":
        settings = make_settings("embedded", database_url="", tmp=tmp_path)
        env = command_env(tmp_path, DATABASE_URL=settings.database_url)
        async with running_app(settings) as api:
            yield Setup(api, env, tmp_path)
        return
    async with scratch_database() as url:
        settings = make_settings("postgres", database_url=url, tmp=tmp_path)
        env = command_env(
            tmp_path,
            DATABASE_URL=url,
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=settings.redis_key_prefix,
        )
        async with running_app(settings) as api:
            yield Setup(api, env, tmp_path)


async def account(api: Api, name: str) -> tuple[Person, str]:
    email = unique_email("announce")
    payload = await api.register(email, display_name=name)
    return Person(token=payload["accessToken"], id=payload["user"]["id"], name=name), email


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
async def test_notify_all_in_batches_once_per_account(tmp_path: Path, backend: str) -> None:
    async with setup(tmp_path, backend) as ctx:
        api = ctx.api
        people = [await account(api, f"Person {n}") for n in range(5)]
        (alice, _), (bob, _), (_, _), (_, _), (disabled, _) = people
        async with api.state.unit_of_work() as uow:
            await uow.session.execute(
                update(User).where(User.id == uuid.UUID(disabled.id)).values(is_active=False)
            )

        async with live_server(api.app) as base, stream(base, alice) as live:
            snapshot = await live.next()
            assert snapshot["event"] == {
                "__typename": "NotificationSnapshot",
                "unreadCount": 0,
                "unseenCount": 0,
            }
            sent = await ctx.arun(
                "--all",
                "--id",
                "launch-1",
                "--title",
                "  Watch parties got   scheduling",
                "--body",
                "Plan a party ahead:\nmembers get a reminder.",
                "--action-path",
                "/parties/new",
                "--expires-in-days",
                "7",
                "--batch-size",
                "2",
            )
            assert sent.returncode == 0, sent.stderr
            assert sent.stdout == "announcement launch-1: notified 4 accounts (0 already had it)\n"
            # 4 active accounts by 2: two batches, each its own transaction.
            batches = [line for line in sent.stderr.splitlines() if line.startswith("batch ")]
            assert batches == [
                "batch 1: notified 2, already had it 0",
                "batch 2: notified 2, already had it 0",
            ]
            if backend == "postgres":  # another process wrote it: live through Redis
                added = await live.next()
                assert added["event"]["__typename"] == "NotificationAdded"
                assert added["event"]["notification"]["title"] == "Watch parties got scheduling"

        page = await feed(api, alice)
        node = page["edges"][0]["node"]
        assert page["totalCount"] == 1
        assert (node["kind"], node["title"], node["body"], node["actionPath"]) == (
            "ANNOUNCEMENT",
            "Watch parties got scheduling",
            "Plan a party ahead: members get a reminder.",
            "/parties/new",
        )
        assert (node["actor"], node["actorCount"]) == (None, 0)
        created = datetime.fromisoformat(node["createdAt"])
        assert (datetime.fromisoformat(node["expiresAt"]) - created).days == 7

        # Read by one, then the same id again (a resumed or repeated run): nobody twice; a new
        # account is reached.
        assert (await mutate(api, MARK_READ, alice, input={"all": True}))["all"] is True
        newcomer, _ = await account(api, "Newcomer")
        again = await ctx.arun(
            "--all", "--id", "launch-1", "--title", "Again", "--body", "Again", "--batch-size", "2"
        )
        assert again.returncode == 0, again.stderr
        assert again.stdout == "announcement launch-1: notified 1 account (4 already had it)\n"
        assert (await feed(api, alice))["totalCount"] == 1
        assert (await feed(api, bob))["totalCount"] == 1
        assert [e["node"]["title"] for e in (await feed(api, newcomer))["edges"]] == ["Again"]

        # The disabled account got nothing (its feed is read directly: it cannot sign in).
        async with api.state.sessionmaker() as session:
            counts = await service.counts(session, uuid.UUID(disabled.id))
        assert (counts.unread, counts.unseen) == (0, 0)


@pytest.mark.parametrize("backend", ["embedded"])
async def test_notify_one_user_and_the_errors(tmp_path: Path, backend: str) -> None:
    async with setup(tmp_path, backend) as ctx:
        api = ctx.api
        (alice, alice_email), (bob, _) = [await account(api, n) for n in ("Alice", "Bob")]
        one = await ctx.arun("--user", alice_email.upper(), "--title", "Hi", "--body", "Just you.")
        assert one.returncode == 0, one.stderr
        generated = one.stdout.split()[1].rstrip(":")
        assert len(generated) == 32  # a new id, printed for a resume
        assert one.stdout == f"announcement {generated}: notified 1 account (0 already had it)\n"
        assert [
            (e["node"]["title"], e["node"]["actionPath"]) for e in (await feed(api, alice))["edges"]
        ] == [("Hi", None)]
        assert (await feed(api, bob))["totalCount"] == 0
        repeat = await ctx.arun(
            "--user", alice_email, "--id", generated, "--title", "Hi", "--body", "Just you."
        )
        assert (
            repeat.stdout == f"announcement {generated}: notified 0 accounts (1 already had it)\n"
        )

        def error(*args: str) -> tuple[int, str]:
            result = ctx.run(*args)
            return result.returncode, result.stderr.strip().splitlines()[-1]

        base = ("--user", alice_email)
        assert error(*base, "--title", "x" * 81, "--body", "b") == (
            2,
            "error: The title must be 1 to 80 characters (it is 81).",
        )
        assert error(*base, "--title", "t", "--body", "   ") == (
            2,
            "error: The body must be 1 to 180 characters (it is 0).",
        )
        assert error(*base, "--title", "t", "--body", "b", "--action-path", "https://x.test") == (
            2,
            "error: The action path must be a path of the frontend such as /parties (at most "
            "300 characters, no spaces).",
        )
        assert error(*base, "--title", "t", "--body", "b", "--expires-in-days", "0") == (
            2,
            "error: expires-in-days must be 1 to 365.",
        )
        assert error(*base, "--title", "t", "--body", "b", "--id", "no spaces") == (
            2,
            "error: The id must be 1 to 64 letters, digits, '.', '_' or '-' (not first).",
        )
        assert error("--user", "nobody@example.com", "--title", "t", "--body", "b") == (
            2,
            "error: No account has the email nobody@example.com.",
        )
        code, message = error("--title", "t", "--body", "b")  # neither --all nor --user
        assert code == 2 and "one of the arguments --all --user is required" in message
        assert (await feed(api, alice))["totalCount"] == 1
