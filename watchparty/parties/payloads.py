"""Pure, JSON-safe dict builders for what the party stream carries.

Stored events embed these so that every subscriber can render an event without reading the
database. Keys are the GraphQL field names; `parties.types` turns them back into GraphQL objects
(`Party.from_payload`, `PartyMember.from_payload`, `user_from_payload`).

`user_payload` carries `bio` and `createdAt` besides the contract's id/displayName/avatarUrl, so
that a payload can render the full public `User` type; private fields (email...) render null.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from watchparty.accounts.models import User
from watchparty.parties.models import Party, PartyMember


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "displayName": user.display_name,
        "avatarUrl": user.avatar_url,
        "bio": user.bio,
        "createdAt": iso(user.created_at),
    }


def finite_or_none(value: float | None) -> float | None:
    """Rows written before inputs were bounded may hold an infinite drift: JSON has no Infinity,
    and GraphQL's Float cannot serialise it, so it reads as unknown."""
    return value if value is not None and math.isfinite(value) else None


def member_payload(member: PartyMember, user: User, online: bool) -> dict[str, Any]:
    return {
        "user": user_payload(user),
        "role": member.role.value,
        "status": member.status.value,
        "joinedAt": iso(member.joined_at),
        "online": online,
        "lastDriftMs": finite_or_none(member.last_drift_ms),
    }


def settings_payload(party: Party) -> dict[str, Any]:
    return {
        "maxMembers": party.max_members,
        "requireApproval": party.require_approval,
        "controlPolicy": party.control_policy.value,
        "chatEnabled": party.chat_enabled,
        "reactionsEnabled": party.reactions_enabled,
        "waitForBuffering": party.wait_for_buffering,
        "bufferingTimeoutSeconds": party.buffering_timeout_seconds,
        "slowModeSeconds": party.slow_mode_seconds,
        "pollPolicy": party.poll_policy.value,
        "maxScreenShares": party.max_screen_shares,
    }


def party_payload(party: Party, host: User | None = None) -> dict[str, Any]:
    """With `host` given, the payload also carries `host` (a user payload) so that rendering
    `Party.host` needs no database read."""
    payload: dict[str, Any] = {
        "id": str(party.id),
        "title": party.title,
        "description": party.description,
        "code": party.code,
        "visibility": party.visibility.value,
        "status": party.status.value,
        "hostId": str(party.host_id),
        "settings": settings_payload(party),
        "scheduledStart": iso(party.scheduled_start),
        "startedAt": iso(party.started_at),
        "endedAt": iso(party.ended_at),
        "createdAt": iso(party.created_at),
    }
    if host is not None:
        payload["host"] = user_payload(host)
    return payload
