"""Run Alembic programmatically (start-up in embedded mode, `watchparty migrate`, tests)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent

# The day partitions of `analytics_events` (PostgreSQL): created and dropped by the analytics
# partition job, not declared by the models, so autogenerate must not see them as extra tables.
PARTITION = re.compile(r"^analytics_events_\d{8}$")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: everything but the analytics day partitions."""
    return not (type_ == "table" and name is not None and PARTITION.match(name))


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_to_head_sync(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head(database_url: str) -> None:
    # env.py runs its own event loop for the async engine, so keep it off ours.
    await asyncio.to_thread(upgrade_to_head_sync, database_url)
