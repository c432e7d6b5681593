"""Bulk imports of staff from CSV, run as jobs whose state and progress live in the database
(any worker can show a job's page; a restarted worker does not lose it). Each row of the file
and what the check found for it is an :class:`ImportRow`, so a report of 50,000 rows is paged
and filtered by the database, never loaded whole."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column, new_uuid, updated_at_column
from sso.db.types import JSONType, UTCDateTime


class ImportJob(Base):
    """One uploaded file: ``validating`` → ``validated`` → ``applying`` → ``applied``, or
    ``failed`` (with ``error``). ``report`` holds the counts (and, once applied, what was
    written); the rows are :class:`ImportRow`. ``processed`` of ``total`` rows is the progress.
    ``content`` is empty for jobs made since the rows moved to their own table (the file is
    streamed to a temporary file under the var dir and deleted once checked)."""

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


class ImportRow(Base):
    """One row of an uploaded file and the check's verdict: ``create``, ``change`` (``changes``
    names the fields), ``unchanged`` or ``refuse`` (``reasons``: ``{"key", "value"}`` pairs, the
    value being the cell that was refused)."""

    __tablename__ = "import_rows"
    __table_args__ = (
        CheckConstraint("action IN ('create', 'change', 'unchanged', 'refuse')", name="action"),
        Index("ix_import_rows_job_action_line", "job_id", "action", "line"),
    )

    job_id: Mapped[str] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[str] = mapped_column(String(16))
    nip: Mapped[str] = mapped_column(String(300), default="")
    # The NIP once valid (as stored on users.nip), to find the person the row is about.
    nip_key: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(300), default="")
    agency: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[str] = mapped_column(String(300), default="")
    # NIP, name and email casefolded, for the report's search box.
    search_text: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[list[str] | None] = mapped_column(JSONType)
    reasons: Mapped[list[dict[str, str]] | None] = mapped_column(JSONType)
    user_id: Mapped[str | None] = mapped_column(String(36))
    version: Mapped[int | None] = mapped_column(Integer)
