"""Every domain's background jobs, and the callbacks a domain takes from the ones built on it,
listed once at the composition root.

The shared floor (`jobs.py`, `state.py`) runs jobs but names none: it takes these lists as
parameters, so its arrows point down. The API server and the seeder hand them to
`state.build_state` (the in-process queue and periodic loops of the embedded mode); the ARQ
worker registers them as its functions and cron jobs (`worker.py`). A domain adds a job here.

Parties and accounts never import the domains built on them; where one must call them, it takes
a registration (`register_callbacks`, run when this module is imported: the API server, the
worker and the seeder all import it, and each of them may announce members offline, check party
media, change memberships, remind, start and invite, or sign in and revoke sign-ins, and
read a host's plan).

It also imports every domain's event declarations (`EVENT_MODULES`): an event type is registered
when its module is imported, and every process that reads or writes the event log (API, worker,
CLI) imports this module, so each of them can read every kind. A domain adds its `events` here.
"""

from __future__ import annotations

from watchparty import tracking
from watchparty.accounts.deletion_hooks import on_account_deleted
from watchparty.accounts.security_hooks import on_security_event
from watchparty.accounts.session_hooks import on_sessions_revoked
from watchparty.analytics import events as analytics_events
from watchparty.analytics.aggregate.jobs import aggregate_analytics, run_analytics_aggregation
from watchparty.analytics.exports import export_analytics, purge_analytics_exports
from watchparty.analytics.partitions import analytics_partitions
from watchparty.analytics.privacy import anonymize_user_events
from watchparty.analytics.store import drain_analytics_events, server_sink
from watchparty.billing import events as billing_events
from watchparty.billing.gate import host_plan
from watchparty.billing.inbox import sweep_stripe_events
from watchparty.billing.webhooks import process_stripe_event
from watchparty.chat import events as chat_events
from watchparty.jobs import JobFunction, Periodic
from watchparty.mail import send_email
from watchparty.notifications import events as notification_events
from watchparty.notifications.email import (
    email_digest,
    email_notifications,
    send_daily_digests,
    send_due_emails,
)
from watchparty.notifications.party_notices import member_changed, open_invitation, party_noticed
from watchparty.notifications.push import push_notifications, send_due_pushes
from watchparty.notifications.push_devices import sessions_revoked as forget_revoked_devices
from watchparty.notifications.retention import purge_notifications
from watchparty.notifications.security_notices import security_event
from watchparty.parties import events as party_events
from watchparty.parties.account_deletion import leave_every_party
from watchparty.parties.failover import host_failover_check
from watchparty.parties.member_hooks import on_member_change
from watchparty.parties.notice_hooks import on_party_notice, use_invitation_inbox
from watchparty.parties.plan_limits import use_plans
from watchparty.parties.presence import sweep_presence
from watchparty.parties.presence.hooks import on_member_offline
from watchparty.parties.reminder_tasks import (
    send_party_reminder,
    start_scheduled_party,
    sweep_party_reminders,
)
from watchparty.parties.tasks import advance_finished_item, end_buffering_wait
from watchparty.parties.validation import use_library_media
from watchparty.polls import events as poll_events
from watchparty.polls.tasks import close_due_poll
from watchparty.reactions import events as reaction_events
from watchparty.realtime.tasks import trim_event_logs
from watchparty.search import outbox as search_outbox
from watchparty.search.indexing import drain_search_outbox, sweep_search_index
from watchparty.videos import progress as video_events
from watchparty.videos.oembed import fetch_external_metadata
from watchparty.videos.party_media import library_media
from watchparty.videos.tasks import process_video, remove_video_files, sweep_stale_processing
from watchparty.voice import events as voice_events
from watchparty.voice.service import member_offline

EVENT_MODULES = (
    party_events,
    chat_events,
    poll_events,
    reaction_events,
    voice_events,
    video_events,
    notification_events,
    billing_events,
    analytics_events,
)


def job_functions() -> dict[str, JobFunction]:
    """Every job the worker runs, by name."""
    functions: list[JobFunction] = [
        send_email,
        advance_finished_item,
        end_buffering_wait,
        host_failover_check,
        send_party_reminder,
        start_scheduled_party,
        close_due_poll,
        fetch_external_metadata,
        process_video,
        remove_video_files,
        email_notifications,
        email_digest,
        push_notifications,
        process_stripe_event,
        run_analytics_aggregation,
        export_analytics,
        drain_search_outbox,
    ]
    return {f.__name__: f for f in functions}


def periodic_jobs() -> list[Periodic]:
    """The jobs run on a schedule: ARQ cron jobs in the worker, loops in embedded mode."""
    return [
        Periodic(trim_event_logs, 60),
        Periodic(sweep_presence, 10),
        Periodic(sweep_stale_processing, 5),
        Periodic(send_due_emails, 60),
        Periodic(send_due_pushes, 60),  # pushes whose job was lost
        Periodic(send_daily_digests, 300),
        Periodic(purge_notifications, 600),
        Periodic(sweep_party_reminders, 60),  # reminders and starts whose jobs were lost
        Periodic(sweep_stripe_events, 60),  # webhook events whose job was lost
        Periodic(drain_analytics_events, 1),  # the analytics stream into PostgreSQL
        Periodic(analytics_partitions, 3600),  # day partitions ahead, retention behind
        Periodic(aggregate_analytics, 60),  # analytics aggregates from the events' watermark
        Periodic(purge_analytics_exports, 600),  # export files past their retention
        Periodic(drain_search_outbox, 5),  # the search index follows the outbox
        Periodic(sweep_search_index, 30),  # bulk changes, online counts, retries
    ]


def register_callbacks() -> None:
    """Hand parties and accounts what they call in the domains built on them (idempotent)."""
    on_member_offline(member_offline)  # an offline member leaves voice and stops sharing
    use_library_media(library_media)  # `media: {videoId}` in createParty and addToQueue
    on_member_change(member_changed)  # join requests, roles, handovers, kicks: notifications
    on_security_event(security_event)  # new devices, passwords, token reuse: notifications
    on_party_notice(party_noticed)  # reminders, starts, invitations: notifications
    use_invitation_inbox(open_invitation)  # acceptPartyInvite / declinePartyInvite
    on_sessions_revoked(forget_revoked_devices)  # a revoked sign-in's push devices go
    use_plans(host_plan)  # the host's plan bounds members, hosted parties, screen shares
    tracking.use_sink(server_sink)  # the server's analytics events: the analytics store
    on_account_deleted(leave_every_party)  # a deleted account hands over or ends its parties
    on_account_deleted(anonymize_user_events)  # ...and its analytics events lose their person
    search_outbox.register()  # indexed changes write the search outbox in their transaction


register_callbacks()
