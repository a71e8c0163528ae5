"""What analytics keeps of a caller: never the whole IP address, never the raw user agent.

- IP: truncated before storage to its /24 (IPv4) or /48 (IPv6) network, written as the
  network's address (`203.0.113.0`, `2001:db8:1::`). The address is the one the app already
  uses everywhere (`request.client.host`: uvicorn's `--forwarded-allow-ips` decides whether a
  proxy's X-Forwarded-For is trusted).
- User agent: reduced by `ua-parser` (the maintained uap-core regexes, Rust engine) to a browser
  family, an OS family and a device class (DESKTOP, MOBILE, TABLET, BOT). The string itself is
  never stored. Parsing is cached: a service sees few distinct user agents.
- Properties are the caller's own and are never shown to anyone else (the read side only serves
  aggregates).

- Deleting an account anonymizes its analytics events (registered with
  `accounts.deletion_hooks` by `registry.py`): one UPDATE through `ix_analytics_events_user`
  sets `user_id` and `anonymous_id` to null, so the events still count in the system's figures
  but nothing ties them to a person any more. The user's own aggregate rows
  (`analytics_user_days`) and jobs go with the user's row (foreign keys, CASCADE); the files of
  their exports are deleted from the storage after the commit.
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from ua_parser import parse as parse_user_agent

from watchparty.analytics.models import AnalyticsEvent, AnalyticsJob
from watchparty.videos.storage import get_storage

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork

MAX_USER_AGENT = 512  # longer ones are cut before parsing (a user agent is a few hundred bytes)


def truncate_ip(address: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of `address`; None when it is not an address."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str | None
    os: str | None
    device: str | None  # DESKTOP | MOBILE | TABLET | BOT


_TABLETS = ("ipad", "tablet", "kindle", "silk", "playbook")


@functools.lru_cache(maxsize=4096)
def _reduce(user_agent: str) -> Agent:
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    os = parsed.os.family if parsed.os else None
    family = (parsed.device.family if parsed.device else "") or ""
    lowered = user_agent.lower()
    if family == "Spider" or "bot" in lowered or "crawler" in lowered:
        device = "BOT"
    elif any(t in family.lower() or t in lowered for t in _TABLETS) or (
        os == "Android" and "mobile" not in lowered
    ):
        device = "TABLET"
    elif "mobi" in lowered or os in ("iOS", "Android", "Windows Phone"):
        device = "MOBILE"
    else:
        device = "DESKTOP"
    return Agent(
        browser[:32] if browser and browser != "Other" else None,
        os[:32] if os and os != "Other" else None,
        device,
    )


def reduce_user_agent(user_agent: str | None) -> Agent:
    """Browser, OS and device class of `user_agent` (all None without one)."""
    if not user_agent:
        return Agent(None, None, None)
    return _reduce(user_agent[:MAX_USER_AGENT])


async def anonymize_user_events(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    await uow.session.execute(
        update(AnalyticsEvent)
        .where(AnalyticsEvent.user_id == user_id)
        .values(user_id=None, anonymous_id=None)
        .execution_options(synchronize_session=False)
    )
    keys = list(
        await uow.session.scalars(
            select(AnalyticsJob.file_key).where(
                AnalyticsJob.owner_id == user_id, AnalyticsJob.file_key.is_not(None)
            )
        )
    )
    if keys:
        storage = get_storage(uow.app)

        async def remove_files() -> None:
            for key in keys:
                if key is not None:
                    await storage.delete_prefix(key)

        uow.after_commit(remove_files)
