"""Column helpers shared by the model modules."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from sso.core.clock import now
from sso.db.types import UTCDateTime


def new_uuid() -> str:
    return str(uuid.uuid4())


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=now, nullable=False)


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=now, onupdate=now, nullable=False)
