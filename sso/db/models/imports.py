"""Bulk imports of staff from CSV, run as jobs whose state and progress live in the database
(any worker can show a job's page; a restarted worker does not lose it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column, new_uuid, updated_at_column
from sso.db.types import JSONType, UTCDateTime


class ImportJob(Base):
    """One uploaded file: ``validating`` → ``validated`` → ``applying`` → ``applied``, or
    ``failed`` (with ``error``). ``report`` holds one entry per row (create / change /
    unchanged / refuse, with reasons); ``processed`` of ``total`` rows is the progress."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('validating', 'validated', 'applying', 'applied', 'failed')",
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(16), default="staff")
    filename: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="validating")
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The agencies the uploader may manage (None: all), fixed when the job is made.
    scope_agency_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
