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

# Modules that must load without GraphQL: the services, every publisher of events, the event
# declarations and the realtime machinery under them.
GRAPHQL_FREE = [
    "watchparty.kit.pagination",
    "watchparty.accounts.deletion",
    "watchparty.accounts.deletion_hooks",
    "watchparty.accounts.devices",
    "watchparty.analytics.ingest",
    "watchparty.analytics.partitions",
    "watchparty.analytics.store",
    "watchparty.accounts.security_hooks",
    "watchparty.accounts.service",
    "watchparty.accounts.session_hooks",
    "watchparty.analytics.aggregate.jobs",
    "watchparty.analytics.exports",
    "watchparty.analytics.privacy",
    "watchparty.analytics.ranges",
    "watchparty.analytics.reading",
    "watchparty.analytics.staff",
    "watchparty.billing.checkout",
    "watchparty.billing.entitlements",
    "watchparty.billing.errors",
    "watchparty.billing.events",
    "watchparty.billing.gate",
    "watchparty.billing.handlers",
    "watchparty.billing.inbox",
    "watchparty.billing.models",
    "watchparty.billing.plans",
    "watchparty.billing.service",
    "watchparty.billing.stripe_api",
    "watchparty.billing.webhooks",
    "watchparty.chat.events",
    "watchparty.chat.history",
    "watchparty.chat.moderation",
    "watchparty.chat.notices",
    "watchparty.chat.payloads",
    "watchparty.chat.service",
    "watchparty.events",
    "watchparty.notifications.announcements",
    "watchparty.notifications.delivery_policy",
    "watchparty.notifications.events",
    "watchparty.notifications.fcm",
    "watchparty.notifications.party_notices",
    "watchparty.notifications.payloads",
    "watchparty.notifications.push",
    "watchparty.notifications.push_devices",
    "watchparty.notifications.render",
    "watchparty.notifications.retention",
    "watchparty.notifications.security_notices",
    "watchparty.notifications.service",
    "watchparty.parties.account_deletion",
    "watchparty.parties.authz",
    "watchparty.parties.direct_invites",
    "watchparty.parties.events",
    "watchparty.parties.hosting",
    "watchparty.parties.invites",
    "watchparty.parties.joining",
    "watchparty.parties.member_actions",
    "watchparty.parties.member_hooks",
    "watchparty.parties.moderation",
    "watchparty.parties.moderation_log",
    "watchparty.parties.notice_hooks",
    "watchparty.parties.plan_limits",
    "watchparty.parties.payloads",
    "watchparty.parties.playback",
    "watchparty.parties.playback_queue",
    "watchparty.parties.playback_reports",
    "watchparty.parties.presence",
    "watchparty.parties.providers",
    "watchparty.parties.reminder_tasks",
    "watchparty.parties.reminders",
    "watchparty.parties.service",
    "watchparty.parties.tasks",
    "watchparty.parties.timeline",
    "watchparty.polls.events",
    "watchparty.polls.service",
    "watchparty.reactions.events",
    "watchparty.reactions.service",
    "watchparty.reactions.stats",
    "watchparty.realtime.hub",
    "watchparty.videos.lease",
    "watchparty.videos.notices",
    "watchparty.videos.party_media",
    "watchparty.videos.progress",
    "watchparty.videos.service",
    "watchparty.videos.upload",
    "watchparty.search.cli",
    "watchparty.search.discovery",
    "watchparty.search.documents",
    "watchparty.search.engine",
    "watchparty.search.fallback",
    "watchparty.search.indexing",
    "watchparty.search.keys",
    "watchparty.search.models",
    "watchparty.search.outbox",
    "watchparty.search.query",
    "watchparty.search.request",
    "watchparty.voice.events",
    "watchparty.voice.service",
]

_PROBE = """
import importlib, sys
importlib.import_module({module!r})
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"strawberry", "graphql"}}))
"""


def graphql_loaded_by(module: str) -> str:
    code = _PROBE.format(module=module)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("module", GRAPHQL_FREE)
def test_service_module_imports_no_graphql(module: str) -> None:
    assert graphql_loaded_by(module) == "[]"
