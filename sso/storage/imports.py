"""Import jobs (state and progress in the database) and the bulk writes of an import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.events import current_context
from sso.db.models import AuditEvent, ImportJob, User
from sso.storage import users as user_repo


def add(session: Session, job: ImportJob) -> ImportJob:
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> ImportJob | None:
    return session.get(ImportJob, job_id)


def recent(session: Session, created_by_id: str | None = None, limit: int = 20) -> Sequence[ImportJob]:
    stmt = select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)
    if created_by_id is not None:
        stmt = stmt.where(ImportJob.created_by_id == created_by_id)
    return session.scalars(stmt).all()


def set_progress(session: Session, job_id: str, processed: int, **values: Any) -> None:
    session.execute(
        update(ImportJob).where(ImportJob.id == job_id)
        .values(processed=processed, updated_at=now(), **values)
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, job_id: str, from_status: str, to_status: str) -> bool:
    """Move a job from one status to the next; False when someone else did first."""
    result = session.execute(
        update(ImportJob).where(ImportJob.id == job_id, ImportJob.status == from_status)
        .values(status=to_status, processed=0, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def insert_users(session: Session, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 1000):
        session.execute(insert(cast(Table, User.__table__)), rows[i : i + 1000])


def update_user(session: Session, user_id: str, version: int, values: dict[str, Any]) -> bool:
    """Optimistic update: only if the row is still at ``version``."""
    result = session.execute(
        update(cast(Table, User.__table__))
        .where(User.__table__.c.id == user_id, User.__table__.c.version == version)
        .values(version=version + 1, updated_at=now(), **values)
    )
    changed = bool(getattr(result, "rowcount", 0))
    if changed:  # the admin search's column, from the row as it is now
        user_repo.refresh_search_text(session, [user_id])
    return changed


def insert_audit(session: Session, rows: list[dict[str, Any]], at: datetime) -> None:
    """Many audit events at once (same columns as :func:`sso.storage.audit.record`)."""
    ctx = current_context()
    common = {"created_at": at, "outcome": "success", "client_id": None, "ip": ctx.ip,
              "user_agent": (ctx.user_agent or "")[:512] or None, "request_id": ctx.request_id}
    full = [{**common, **row} for row in rows]
    for i in range(0, len(full), 1000):
        session.execute(insert(cast(Table, AuditEvent.__table__)), full[i : i + 1000])
