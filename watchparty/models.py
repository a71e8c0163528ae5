"""Imports every domain's models so `metadata` (Alembic's target) knows all tables."""

from watchparty.accounts import models as accounts_models
from watchparty.db import Base

metadata = Base.metadata

__all__ = ["accounts_models", "metadata"]
