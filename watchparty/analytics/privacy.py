"""Deleting an account anonymizes its analytics events (registered with
`accounts.deletion_hooks` by `registry.py`): one UPDATE through `ix_analytics_events_user`
sets `user_id` and `anonymous_id` to null, so the events still count in the system's figures
but nothing ties them to a person any more. The user's own aggregate rows
(`analytics_user_days`) and jobs go with the user's row (foreign keys, CASCADE); the files of
their exports are deleted from the storage after the commit.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from watchparty.analytics.models import AnalyticsEvent, AnalyticsJob
from watchparty.videos.storage import get_storage

if TYPE_CHECKING:
    from watchparty.db import UnitOfWork


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
