"""Single-use links sent by mail: email verification, password reset and account activation
(a set-password link for staff made by an admin or an import, valid longer than a reset).

Only the keyed hash (HMAC-SHA-256 under ``SSO_SECRET_KEY``) of a token is stored; the token
itself exists only in the mail. A token is spent by one conditional UPDATE of ``consumed_at``;
a newer password-reset request sets ``voided_at`` on the older links of the same person.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column
from sso.db.types import UTCDateTime

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"
ACCOUNT_ACTIVATION = "account_activation"
KINDS = (EMAIL_VERIFICATION, PASSWORD_RESET, ACCOUNT_ACTIVATION)


class AccountToken(Base):
    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="kind"),
        # Voiding a person's older links of one kind; also serves the user_id foreign key.
        Index("ix_account_tokens_user_kind", "user_id", "kind"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The address the link was sent to (normalised): a verification link proves control of this
    # address only, so it verifies nothing once the account's email has changed.
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
