"""Imports every domain's models so `metadata` (Alembic's target) knows all tables."""

from watchparty.accounts import models as accounts_models
from watchparty.db import Base
from watchparty.parties import models as parties_models
from watchparty.realtime import models as realtime_models

metadata = Base.metadata

__all__ = ["accounts_models", "metadata", "parties_models", "realtime_models"]
