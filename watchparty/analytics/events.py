"""Analytics' events: an `AnalyticsJob`'s changes on its own channel (`analytics_job:<id>`,
stored: `analyticsJobProgress(id)` resumes by cursor and starts from the job's row)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, channel_of, register


def job_channel(job_id: uuid.UUID | str) -> str:
    return channel_of("analytics_job", job_id)


@register("analytics.job_changed")
@dataclass(frozen=True, slots=True)
class AnalyticsJobChanged(Event):
    """The job's status, progress or result changed: `job` is `runs.job_payload(row)`."""

    job: dict[str, Any]
