"""Services are free of GraphQL: importing one loads neither strawberry nor graphql-core.

Each module is imported in a fresh interpreter (an import seen earlier in this process would hide
the one under test), and the test fails on whichever module pulls GraphQL in, directly or through
anything it imports. The GraphQL face of a domain (`types.py`, `resolvers.py`, `*_resolvers.py`,
`loaders.py`) imports these modules, never the reverse.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Modules that must load without GraphQL.
GRAPHQL_FREE = [
    "watchparty.kit.pagination",
    "watchparty.accounts.service",
    "watchparty.chat.history",
    "watchparty.chat.moderation",
    "watchparty.chat.payloads",
    "watchparty.parties.authz",
    "watchparty.parties.hosting",
    "watchparty.parties.invites",
    "watchparty.parties.joining",
    "watchparty.parties.member_actions",
    "watchparty.parties.moderation",
    "watchparty.parties.moderation_log",
    "watchparty.parties.payloads",
    "watchparty.parties.presence",
    "watchparty.parties.service",
    "watchparty.parties.timeline",
    "watchparty.reactions.stats",
    "watchparty.realtime.hub",
    "watchparty.videos.party_media",
    "watchparty.videos.service",
    "watchparty.videos.upload",
]

# Publishers whose only way to GraphQL left is `parties.stream` (`record_event` and
# `publish_ephemeral_event` share a module with the `partyEvents` subscription, and the stored
# event types are read from each domain's strawberry `events` module): with that module stubbed
# out they load without GraphQL. Once the stream's write side is plain, they join GRAPHQL_FREE.
GRAPHQL_ONLY_THROUGH_PARTY_STREAM = [
    "watchparty.chat.service",
    "watchparty.parties.playback",
    "watchparty.parties.playback_queue",
    "watchparty.parties.playback_reports",
    "watchparty.parties.tasks",
    "watchparty.polls.service",
    "watchparty.reactions.service",
    "watchparty.voice.service",
]

_PROBE = """
import importlib, sys, types
if {stub_stream}:
    stub = types.ModuleType("watchparty.parties.stream")
    stub.__getattr__ = lambda name: object()  # any name imported from it
    sys.modules[stub.__name__] = stub
importlib.import_module({module!r})
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"strawberry", "graphql"}}))
"""


def graphql_loaded_by(module: str, *, stub_stream: bool = False) -> str:
    code = _PROBE.format(module=module, stub_stream=stub_stream)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module", GRAPHQL_FREE)
def test_service_module_imports_no_graphql(module: str) -> None:
    assert graphql_loaded_by(module) == "[]"


@pytest.mark.parametrize("module", GRAPHQL_ONLY_THROUGH_PARTY_STREAM)
def test_publishers_reach_graphql_only_through_the_party_stream(module: str) -> None:
    assert graphql_loaded_by(module, stub_stream=True) == "[]"
