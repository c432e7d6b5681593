"""Device authorizations (RFC 8628): a device's pending request while its person approves it.

Neither code is stored: the row is found by the keyed hash of the ``device_code`` (held by the
device) or of the normalised ``user_code`` (typed by the person). ``status`` moves one way:
``pending`` → ``approved`` or ``denied``; ``approved`` → ``consumed`` when the device redeems it
at /token. Approval creates the :class:`~sso.db.models.oauth.Grant` the tokens belong to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column
from sso.db.types import JSONType, UTCDateTime

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
CONSUMED = "consumed"
STATUSES = (PENDING, APPROVED, DENIED, CONSUMED)


class DeviceAuthorization(Base):
    __tablename__ = "device_authorizations"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status"),
    )

    device_code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    # Set at approval: who approved, from which login session (the ``sid``), how they logged in.
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), index=True
    )
    login_session_id: Mapped[str | None] = mapped_column(String(36))
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    amr: Mapped[list[str] | None] = mapped_column(JSONType)
    acr: Mapped[str | None] = mapped_column(String(64))
    # Seconds the device must wait between polls; grows by 5 on every slow_down (§3.5).
    interval: Mapped[int] = mapped_column(Integer, default=5)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
