"""Failure counters of the guessing protection (``sso.accounts.throttle``) when no Redis is
configured.

A row is one counter: ``key`` is the keyed hash of what is counted (an account, an account and
an IP, an IP, a client and an IP…), so no email or IP address is stored in clear. ``count`` is
the number of attempts since the counter last started; the counter starts again once
``window_ends_at`` has passed. ``locked_until`` is set when ``count`` reaches a multiple of the
threshold; it is always in the near future, never permanent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.types import UTCDateTime


class ThrottleCounter(Base):
    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
