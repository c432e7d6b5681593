"""Reads of the audit log for the admin UI: filtered keyset pages (newest first), per-day
login counts for the dashboard, a person's recent events, and batches for CSV export.

Only reads: the log is append-only (no update or delete exists anywhere in the app)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, String, cast, func, or_, select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent

# Tangerang Selatan keeps Western Indonesia Time (UTC+7, no daylight saving): the dashboard's
# days are the city's days.
LOCAL_OFFSET = timedelta(hours=7)


@dataclass(frozen=True)
class AuditFilter:
    event: str | None = None  # exact name, or a prefix ending in "." (e.g. "user.")
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def _where(f: AuditFilter) -> list[object]:
    conditions: list[object] = []
    if f.event:
        if f.event.endswith("."):
            conditions.append(AuditEvent.event.startswith(f.event, autoescape=True))
        else:
            conditions.append(AuditEvent.event == f.event)
    if f.actor_id:
        conditions.append(AuditEvent.actor_id == f.actor_id)
    if f.target_id:
        conditions.append(AuditEvent.target_id == f.target_id)
    if f.since:
        conditions.append(AuditEvent.created_at >= f.since)
    if f.until:
        conditions.append(AuditEvent.created_at < f.until)
    return conditions


def page(
    session: Session, f: AuditFilter, *, before_id: int | None = None, limit: int = 50
) -> tuple[Sequence[AuditEvent], int | None]:
    """Newest first; the cursor is the id of the last row shown (None on the last page)."""
    stmt = select(AuditEvent).where(*_where(f))  # type: ignore[arg-type]
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], rows[limit - 1].id


def batches(session: Session, f: AuditFilter, size: int = 1000) -> Iterator[Sequence[AuditEvent]]:
    """Every matching event, newest first, ``size`` at a time (keyset, constant memory)."""
    before: int | None = None
    while True:
        rows, before = page(session, f, before_id=before, limit=size)
        if rows:
            yield rows
        session.expunge_all()
        if before is None:
            return


def about_user(session: Session, user_id: str, limit: int = 20) -> Sequence[AuditEvent]:
    """Recent events where the person acted or was acted upon."""
    stmt = (
        select(AuditEvent)
        .where(or_(AuditEvent.target_id == user_id, AuditEvent.actor_id == user_id))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def daily_counts(
    session: Session, events: Sequence[str], first_day: date, days: int
) -> dict[str, dict[date, int]]:
    """``{event: {local day: count}}`` for ``days`` days from ``first_day`` (local time)."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - LOCAL_OFFSET
    end = start + timedelta(days=days)
    day: ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        day = cast(func.timezone("UTC", AuditEvent.created_at) + LOCAL_OFFSET, Date)
    else:
        day = func.date(AuditEvent.created_at, "+7 hours")
    stmt = (
        select(AuditEvent.event, cast(day, String), func.count())
        .where(
            AuditEvent.event.in_(list(events)),
            AuditEvent.created_at >= start,
            AuditEvent.created_at < end,
        )
        .group_by(AuditEvent.event, day)
    )
    out: dict[str, dict[date, int]] = {e: {} for e in events}
    for event, day_text, count in session.execute(stmt).all():
        out[event][date.fromisoformat(str(day_text)[:10])] = int(count)
    return out
