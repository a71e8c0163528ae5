"""Polls' event on the party stream: stored on creation, on every ballot change (with the new
counts) and on close. `poll` is `polls.payloads.poll_payload`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchparty.events import Event, register


@register("polls.poll_changed", legacy="PollChanged")
@dataclass(frozen=True, slots=True)
class PollChanged(Event):
    poll: dict[str, Any]
