"""Comps: `watchparty billing grant | revoke-grant | show` run as real subprocesses against the
database an app serves; the grant is visible (`me.subscription.source` COMP, `show`) and reaches
the person's `notificationEvents` stream live as `EntitlementsChanged`."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.billing_support import BILLING_ON, billing_app
from tests.ops_support import command_env, run_command
from tests.parties_ops import Person
from tests.support import REDIS_URL, Api, graphql_socket, live_server, unique_email

EVENTS = """subscription { notificationEvents { event { __typename
  ... on EntitlementsChanged { plan entitlements { plan partyMembers screenShares } } } } }"""
ME = """{ me { subscription { plan status source compUntil interval }
  entitlements { plan partyMembers } } }"""


@dataclass
class Setup:
    api: Api
    env: dict[str, str]
    cwd: Path

    async def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_command, ["billing", *args], self.env, self.cwd)


def _env_values() -> dict[str, str]:
    return {key.upper(): str(value) for key, value in BILLING_ON.items()}


@asynccontextmanager
async def setup(tmp_path: Path, backend: str) -> AsyncIterator[Setup]:
    async for api in billing_app(backend, tmp_path):
        values = {"DATABASE_URL": api.settings.database_url, **_env_values()}
        if backend == "postgres":
            values.update(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=api.settings.redis_key_prefix)
        yield Setup(api, command_env(tmp_path, **values), tmp_path)


async def account(api: Api) -> tuple[Person, str]:
    email = unique_email("comp")
    payload = await api.register(email, display_name="Comped")
    return Person(payload["accessToken"], payload["user"]["id"], "Comped"), email


async def me(api: Api, who: Person) -> Any:
    return (await api.gql(ME, token=who.token)).data["me"]


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
async def test_grant_show_and_revoke(tmp_path: Path, backend: str) -> None:
    async with setup(tmp_path, backend) as ctx:
        api = ctx.api
        alice, email = await account(api)
        async with live_server(api.app) as base, graphql_socket(base) as socket:
            ack = await socket.init({"authorization": f"Bearer {alice.token}"})
            assert ack["type"] == "connection_ack"
            op_id = await socket.subscribe(EVENTS)
            first = await socket.receive()
            assert (first["id"], first["payload"]["data"]["notificationEvents"]["event"]) == (
                op_id,
                {"__typename": "NotificationSnapshot"},
            )

            granted = await ctx.run(
                "grant",
                email,
                "premium",
                "--until",
                "2099-12-31",
                "--note",
                "Beta tester",
                "--by",
                "support@example.com",
            )
            assert granted.returncode == 0, granted.stderr
            assert granted.stdout.startswith(f"granted {email}: comp PREMIUM ACTIVE; id ")
            assert "until 2100-01-01 00:00 UTC; granted by support@example.com" in granted.stdout
            changed = await socket.receive()
            assert changed["payload"]["data"]["notificationEvents"]["event"] == {
                "__typename": "EntitlementsChanged",
                "plan": "PREMIUM",
                "entitlements": {"plan": "PREMIUM", "partyMembers": 1000, "screenShares": 4},
            }
            assert await me(api, alice) == {
                "subscription": {
                    "plan": "PREMIUM",
                    "status": "ACTIVE",
                    "source": "COMP",
                    "compUntil": "2100-01-01T00:00:00+00:00",
                    "interval": None,
                },
                "entitlements": {"plan": "PREMIUM", "partyMembers": 1000},
            }

            # Granting again replaces the comp (one at a time).
            again = await ctx.run("grant", email, "PLUS", "--until", "2099-06-30T12:00:00Z")
            assert again.returncode == 0, again.stderr
            assert (await socket.receive())["payload"]["data"]["notificationEvents"]["event"][
                "plan"
            ] == "PLUS"
            shown = await ctx.run("show", email)
            assert shown.returncode == 0, shown.stderr
            lines = shown.stdout.splitlines()
            assert lines[0] == f"{email}: plan PLUS"
            assert len(lines) == 2
            assert lines[1].startswith("  comp PLUS ACTIVE; id ")
            assert "until 2099-06-30 12:00 UTC" in lines[1]
            assert "note:" not in lines[1]  # the note was replaced (none given)

            revoked = await ctx.run("revoke-grant", email)
            assert revoked.returncode == 0, revoked.stderr
            assert revoked.stdout.startswith(f"revoked {email}: comp PLUS CANCELED; id ")
            assert (await socket.receive())["payload"]["data"]["notificationEvents"]["event"] == {
                "__typename": "EntitlementsChanged",
                "plan": "FREE",
                "entitlements": {"plan": "FREE", "partyMembers": 20, "screenShares": 1},
            }
        assert await me(api, alice) == {
            "subscription": None,
            "entitlements": {"plan": "FREE", "partyMembers": 20},
        }
        shown = await ctx.run("show", email)
        assert shown.stdout.splitlines()[0] == f"{email}: plan FREE"
        assert "comp PLUS CANCELED" in shown.stdout  # the record stays


@pytest.mark.parametrize("backend", ["embedded"])
async def test_grant_refuses_bad_input(tmp_path: Path, backend: str) -> None:
    async with setup(tmp_path, backend) as ctx:
        _, email = await account(ctx.api)
        cases = [
            (
                ["grant", "nobody@example.com", "PLUS", "--until", "2099-01-01"],
                "error: No account has the email nobody@example.com.\n",
            ),
            (
                ["grant", email, "FREE", "--until", "2099-01-01"],
                "error: Grant a paid plan (PLUS or PREMIUM).\n",
            ),
            (
                ["grant", email, "GOLD", "--until", "2099-01-01"],
                "error: Unknown plan 'GOLD': PLUS, PREMIUM.\n",
            ),
            (
                ["grant", email, "PLUS", "--until", "2001-01-01"],
                "error: The grant must end in the future.\n",
            ),
            (
                ["grant", email, "PLUS", "--until", "soon"],
                "error: --until 'soon': give a day (2027-01-31) or an ISO time.\n",
            ),
            (["revoke-grant", email], f"error: {email} has no grant.\n"),
        ]
        for args, stderr in cases:
            done = await ctx.run(*args)
            assert (done.returncode, done.stderr) == (2, stderr), args
