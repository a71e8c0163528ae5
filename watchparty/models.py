"""Imports every domain's models so `metadata` (Alembic's target) knows all tables."""

from watchparty.accounts import models as accounts_models
from watchparty.analytics import models as analytics_models
from watchparty.billing import models as billing_models
from watchparty.chat import models as chat_models
from watchparty.chat import moderation_models as chat_moderation_models
from watchparty.db import Base
from watchparty.notifications import models as notifications_models
from watchparty.parties import models as parties_models
from watchparty.polls import models as polls_models
from watchparty.reactions import models as reactions_models
from watchparty.realtime import models as realtime_models
from watchparty.search import models as search_models
from watchparty.videos import models as videos_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "analytics_models",
    "billing_models",
    "chat_models",
    "chat_moderation_models",
    "metadata",
    "notifications_models",
    "parties_models",
    "polls_models",
    "reactions_models",
    "realtime_models",
    "search_models",
    "videos_models",
]
