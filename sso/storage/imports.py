"""Import jobs (state and progress in the database), their rows (the report, paged and
filtered here), and the bulk writes of an import."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.events import current_context
from sso.db.models import AuditEvent, ImportJob, ImportRow, User
from sso.storage import audit
from sso.storage import users as user_repo


def add(session: Session, job: ImportJob) -> ImportJob:
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> ImportJob | None:
    return session.get(ImportJob, job_id)


def recent(
    session: Session, created_by_id: str | None = None, limit: int = 20
) -> Sequence[ImportJob]:
    stmt = select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)
    if created_by_id is not None:
        stmt = stmt.where(ImportJob.created_by_id == created_by_id)
    return session.scalars(stmt).all()


def set_progress(session: Session, job_id: str, processed: int, **values: Any) -> None:
    session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(processed=processed, updated_at=now(), **values)
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, job_id: str, from_status: str, to_status: str) -> bool:
    """Move a job from one status to the next; False when someone else did first."""
    result = session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status == from_status)
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
    common = {
        "created_at": at,
        "outcome": "success",
        "client_id": None,
        "ip": ctx.ip,
        "user_agent": (ctx.user_agent or "")[:512] or None,
        "request_id": ctx.request_id,
    }
    full = [{**common, **row} for row in rows]
    for i in range(0, len(full), 1000):
        session.execute(insert(cast(Table, AuditEvent.__table__)), full[i : i + 1000])
        audit.written(session, full[i : i + 1000])


# ---------------------------------------------------------------------------- the rows


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rows of a job's report (keys: the columns of :class:`ImportRow`)."""
    for i in range(0, len(rows), 1000):
        session.execute(insert(cast(Table, ImportRow.__table__)), rows[i : i + 1000])


def delete_rows(session: Session, job_id: str) -> None:
    session.execute(delete(ImportRow).where(ImportRow.job_id == job_id))


@dataclass(frozen=True)
class RowQuery:
    job_id: str
    actions: Collection[str] = ()  # none: every action
    text: str = ""  # part of the NIP, name or email (casefolded)


def _filtered(stmt: Select[Any], q: RowQuery) -> Select[Any]:
    stmt = stmt.where(ImportRow.job_id == q.job_id)
    if q.actions:
        stmt = stmt.where(ImportRow.action.in_(list(q.actions)))
    if q.text:
        pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(ImportRow.search_text.like(pattern, escape="\\"))
    return stmt


def count_rows(session: Session, q: RowQuery) -> int:
    return int(session.scalar(_filtered(select(func.count()).select_from(ImportRow), q)) or 0)


def rows_page(session: Session, q: RowQuery, offset: int, limit: int) -> Sequence[ImportRow]:
    stmt = _filtered(select(ImportRow), q).order_by(ImportRow.line).offset(offset).limit(limit)
    return session.scalars(stmt).all()


def each_row(session: Session, q: RowQuery, chunk: int = 1000) -> Iterator[ImportRow]:
    """Every row matching ``q`` in line order, read in keyset chunks (never all at once)."""
    after = 0
    while True:
        stmt = (
            _filtered(select(ImportRow), q)
            .where(ImportRow.line > after)
            .order_by(ImportRow.line)
            .limit(chunk)
        )
        found = session.scalars(stmt).all()
        yield from found
        if len(found) < chunk:
            return
        after = found[-1].line


def action_counts(session: Session, job_id: str) -> dict[str, int]:
    stmt = (
        select(ImportRow.action, func.count())
        .where(ImportRow.job_id == job_id)
        .group_by(ImportRow.action)
    )
    return {str(a): int(n) for a, n in session.execute(stmt).all()}
