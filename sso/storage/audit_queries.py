"""Reads of the audit log for the admin UI: filtered keyset pages both ways (newest first),
per-day counts for the dashboard, a person's recent events, batches for CSV export, and the
names (people, apps, agencies, roles) that the ids in a page of events stand for.

Only reads: the log is append-only (no update or delete exists anywhere in the app).

Pages are in time order, newest first, keyed by ``(created_at, id)`` (``ix_audit_events_created``
walks them, and alone serves a date range however old); the filters have their indexes: names
(``IN`` a category's) ``ix_audit_events_event_created``, a person ``ix_audit_events_actor`` and
``ix_audit_events_target`` (type and id), an app ``ix_audit_events_client``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    String,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.orm import Session

from sso.db.models import Agency, AuditEvent, Client, Role, User
from sso.db.types import UTCDateTime

# Tangerang Selatan keeps Western Indonesia Time (UTC+7, no daylight saving): the dashboard's
# days are the city's days.
LOCAL_OFFSET = timedelta(hours=7)
MAX_NAMES = 200  # ids looked up in one IN list


@dataclass(frozen=True)
class AuditFilter:
    event: str | None = None  # exact name, or a prefix ending in "." (e.g. "user.")
    # Categories chosen: names in ``names``, or (``others``) any name not in ``known``.
    names: tuple[str, ...] | None = None
    others: bool = False
    known: tuple[str, ...] = ()
    actor_id: str | None = None
    target_id: str | None = None
    person_id: str | None = None  # acted, or was the user acted upon
    client_ids: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    @property
    def narrowed(self) -> bool:
        """Whether any filter is set (an empty page then means "nothing matches")."""
        return any(
            (
                self.event,
                self.names is not None,
                self.actor_id,
                self.target_id,
                self.person_id,
                self.client_ids is not None,
                self.since,
                self.until,
            )
        )


def _where(f: AuditFilter) -> list[ColumnElement[bool]]:
    e = AuditEvent
    conditions: list[ColumnElement[bool]] = []
    if f.event:
        if f.event.endswith("."):
            conditions.append(e.event.startswith(f.event, autoescape=True))
        else:
            conditions.append(e.event == f.event)
    if f.names is not None:
        either: list[ColumnElement[bool]] = []
        if f.names:
            either.append(e.event.in_(f.names))
        if f.others:
            either.append(e.event.not_in(f.known))
        conditions.append(or_(*either) if either else e.id.is_(None))
    if f.actor_id:
        conditions.append(e.actor_id == f.actor_id)
    if f.target_id:
        conditions.append(e.target_id == f.target_id)
    if f.person_id:
        conditions.append(
            or_(
                e.actor_id == f.person_id, and_(e.target_type == "user", e.target_id == f.person_id)
            )
        )
    if f.client_ids is not None:
        conditions.append(e.client_id.in_(f.client_ids) if f.client_ids else e.id.is_(None))
    if f.since:
        conditions.append(e.created_at >= f.since)
    if f.until:
        conditions.append(e.created_at < f.until)
    return conditions


Key = tuple[datetime, int]  # (created_at, id): an event's place in the log's order


def key_of(e: AuditEvent) -> Key:
    return e.created_at, e.id


def _place() -> ColumnElement[Any]:
    return tuple_(AuditEvent.created_at, AuditEvent.id)


_NEWEST_FIRST = (AuditEvent.created_at.desc(), AuditEvent.id.desc())


def _before(key: Key) -> ColumnElement[bool]:
    return _place() < tuple_(literal(key[0], UTCDateTime()), literal(key[1]))


def _after(key: Key) -> ColumnElement[bool]:
    return _place() > tuple_(literal(key[0], UTCDateTime()), literal(key[1]))


@dataclass(frozen=True)
class Page:
    rows: Sequence[AuditEvent]  # newest first
    older: Key | None  # cursor (``before``) of the next older page
    newer: Key | None  # cursor (``after``) of the next newer page


def _exists(session: Session, f: AuditFilter, condition: ColumnElement[bool]) -> bool:
    stmt = select(AuditEvent.id).where(*_where(f), condition).limit(1)
    return session.scalar(stmt) is not None


def page(
    session: Session,
    f: AuditFilter,
    *,
    before: Key | None = None,
    after: Key | None = None,
    limit: int = 50,
) -> Page:
    """``limit`` events older than ``before``, or newer than ``after``, or the newest."""
    stmt = select(AuditEvent).where(*_where(f))
    if after is not None and before is None:
        stmt = stmt.where(_after(after)).order_by(AuditEvent.created_at.asc(), AuditEvent.id.asc())
        rows = list(session.scalars(stmt.limit(limit)).all())[::-1]
    else:
        if before is not None:
            stmt = stmt.where(_before(before))
        rows = list(session.scalars(stmt.order_by(*_NEWEST_FIRST).limit(limit)).all())
    if not rows:
        return Page(rows, None, None)
    last, first = key_of(rows[-1]), key_of(rows[0])
    older = last if _exists(session, f, _before(last)) else None
    newer = first if _exists(session, f, _after(first)) else None
    return Page(rows, older, newer)


def get(session: Session, event_id: int) -> AuditEvent | None:
    return session.get(AuditEvent, event_id)


def batches(session: Session, f: AuditFilter, size: int = 1000) -> Iterator[Sequence[AuditEvent]]:
    """Every matching event, newest first, ``size`` at a time (keyset, constant memory)."""
    before: Key | None = None
    while True:
        stmt = select(AuditEvent).where(*_where(f))
        if before is not None:
            stmt = stmt.where(_before(before))
        rows = list(session.scalars(stmt.order_by(*_NEWEST_FIRST).limit(size)).all())
        if rows:
            yield rows
        if len(rows) < size:
            return
        before = key_of(rows[-1])
        session.expunge_all()


def about_user(session: Session, user_id: str, limit: int = 20) -> Sequence[AuditEvent]:
    """Recent events where the person acted or was acted upon (newest first).

    Two index walks, each cut at ``limit`` (the actor's on ``(actor_id, created_at)``, the
    target's on ``(target_type, target_id)``), then the newest ``limit`` of both: one ``OR``
    over the two columns walked the whole log backwards by id at a million events (issue 13
    bench, 550 ms)."""
    newest = (AuditEvent.created_at.desc(), AuditEvent.id.desc())
    by = (
        select(AuditEvent.id)
        .where(AuditEvent.actor_id == user_id)
        .order_by(*newest)
        .limit(limit)
        .subquery()
    )
    on = (
        select(AuditEvent.id)
        .where(AuditEvent.target_type == "user", AuditEvent.target_id == user_id)
        .order_by(*newest)
        .limit(limit)
        .subquery()
    )
    ids = union(select(by.c.id), select(on.c.id)).subquery()
    stmt = (
        select(AuditEvent).where(AuditEvent.id.in_(select(ids.c.id))).order_by(*newest).limit(limit)
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


def recent_actors(
    session: Session,
    events: Sequence[str],
    since: datetime,
    limit: int = 1000,
    actor_ids: Sequence[str] | None = None,
) -> dict[str, set[str]]:
    """``{actor id: {addresses}}`` of the newest ``limit`` ``events`` since ``since`` (of
    ``actor_ids`` only, when given)."""
    stmt = (
        select(AuditEvent.actor_id, AuditEvent.ip)
        .where(
            AuditEvent.event.in_(list(events)),
            AuditEvent.created_at >= since,
            AuditEvent.actor_id.is_not(None),
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(limit)
    )
    if actor_ids is not None:
        stmt = stmt.where(AuditEvent.actor_id.in_(sorted(set(actor_ids))))
    out: dict[str, set[str]] = {}
    for actor_id, ip in session.execute(stmt).all():
        out.setdefault(str(actor_id), set()).update([ip] if ip else [])
    return out


# ---------------------------------------------------------------------------- names


def _some(ids: Iterable[str | None]) -> list[str]:
    return sorted({i for i in ids if i})[:MAX_NAMES]


def people(session: Session, ids: Iterable[str | None]) -> dict[str, tuple[str, str]]:
    """``{user id: (username, display name)}`` of those still there."""
    wanted = _some(ids)
    if not wanted:
        return {}
    stmt = select(User.id, User.username, User.display_name).where(User.id.in_(wanted))
    return {uid: (username, name or "") for uid, username, name in session.execute(stmt).all()}


def client_names(session: Session, client_ids: Iterable[str | None]) -> dict[str, str]:
    wanted = _some(client_ids)
    if not wanted:
        return {}
    stmt = select(Client.client_id, Client.name).where(Client.client_id.in_(wanted))
    return {cid: name for cid, name in session.execute(stmt).all()}


def agency_names(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = [int(i) for i in _some(ids) if i.isdigit()]
    if not wanted:
        return {}
    stmt = select(Agency.id, Agency.code, Agency.name).where(Agency.id.in_(wanted))
    return {str(aid): f"{code} · {name}" for aid, code, name in session.execute(stmt).all()}


def role_names(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = [int(i) for i in _some(ids) if i.isdigit()]
    if not wanted:
        return {}
    stmt = select(Role.id, Role.name).where(Role.id.in_(wanted))
    return {str(rid): name for rid, name in session.execute(stmt).all()}


def find_clients(session: Session, text: str, limit: int = 50) -> list[str]:
    """client_ids of the app whose client_id is ``text``, else of apps whose name contains
    it (any case)."""
    exact = session.scalar(select(Client.client_id).where(Client.client_id == text))
    if exact:
        return [exact]
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = (
        select(Client.client_id)
        .where(func.lower(Client.name).like(pattern, escape="\\"))
        .order_by(Client.name)
        .limit(limit)
    )
    return list(session.scalars(stmt).all())
