"""Batches of activation links: set-password links mailed to staff who have no password yet
(after an import, or one person at a time). A batch lists its recipients, one
:class:`ActivationSend` each, whose status moves ``pending`` → ``sending`` → ``sent`` (or
``failed``, or ``skipped`` when the person got a password meanwhile) and never back: a
person is mailed at most once per batch, even when the worker
that sends the batch dies and another one resumes it. The batch's counters are its progress.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column, new_uuid, updated_at_column
from sso.db.types import UTCDateTime


class ActivationBatch(Base):
    """``preparing`` (recipients being listed) → ``sending`` → ``sent``; ``lease_until`` is
    how long the worker sending it may be trusted to be alive (another resumes it after)."""

    __tablename__ = "activation_batches"
    __table_args__ = (CheckConstraint("status IN ('preparing', 'sending', 'sent')", name="status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    # One batch per import: sending again for the same import shows the same batch.
    import_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), unique=True
    )
    created_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="preparing")
    total: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # The language of the admin who started it (the mails go out in each person's own).
    locale: Mapped[str] = mapped_column(String(8), default="id")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActivationSend(Base):
    __tablename__ = "activation_sends"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="status"
        ),
        Index("ix_activation_sends_batch_status", "batch_id", "status"),
    )

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("activation_batches.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    updated_at: Mapped[datetime] = updated_at_column()
