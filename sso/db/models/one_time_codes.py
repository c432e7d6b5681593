"""One-time codes: 6 digits sent by WhatsApp, SMS or mail to prove a phone number or an email
address (to verify it, to log in with it, to register with it).

A row is one *challenge*: its ``id`` (random, in the form that asks for the code) names it, the
code itself exists only in the message. ``code_hash`` is the keyed hash (HMAC-SHA-256 under
``SSO_SECRET_KEY``) of the challenge id and the code, so the same 6 digits never hash alike in
two challenges and a stolen table cannot be matched offline without the key. A "send again"
replaces the code (the old one stops working) and its expiry; ``attempts`` counts wrong tries of
the challenge, ``consumed_at`` is set by the one conditional UPDATE that spends it.

``code_hash`` is NULL for a challenge nothing was sent for (a login code asked for a number no
account has): it answers exactly like a real one and can never be satisfied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column
from sso.db.types import JSONType, UTCDateTime

VERIFY_PHONE = "verify_phone"
VERIFY_EMAIL = "verify_email"
LOGIN = "login"
REGISTER = "register"
PURPOSES = (VERIFY_PHONE, VERIFY_EMAIL, LOGIN, REGISTER)
CHANNELS = ("whatsapp", "sms", "email")


class OneTimeCode(Base):
    __tablename__ = "one_time_codes"
    __table_args__ = (
        CheckConstraint(
            "purpose IN (" + ", ".join(f"'{p}'" for p in PURPOSES) + ")", name="purpose"
        ),
        CheckConstraint(
            "channel IN (" + ", ".join(f"'{c}'" for c in CHANNELS) + ")", name="channel"
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    # The E.164 number or the normalised email address the code went to: what it proves.
    destination: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    sends: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # What the flow needs back after the code (a registration's name, the parked
    # authorization request's id hash); never the code.
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
