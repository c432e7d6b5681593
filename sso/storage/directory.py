"""Queries of the admin UI over people, agencies and sessions: prefix search with keyset
paging (no OFFSET), counts, agency subtrees.

Search keys (``display_name_search``, ``username_normalized``, ``email_normalized``, ``nip``)
are ``COLLATE "C"`` on PostgreSQL and byte-wise on SQLite, so a prefix is the half-open range
``[prefix, prefix + U+10FFFF)`` and is answered by a b-tree index, whatever the table size;
the page after a row continues from ``(key, id) > (last key, last id)``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, tuple_, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from sso.core.clock import now
from sso.db.models import Agency, Client, LoginSession, RoleAssignment, User

SEARCH_COLUMNS: dict[str, InstrumentedAttribute[str]] = {
    "name": User.display_name_search,
    "username": User.username_normalized,
    "email": User.email_normalized,  # type: ignore[dict-item]
    "nip": User.nip,  # type: ignore[dict-item]
}
_TOP = "\U0010ffff"


@dataclass(frozen=True)
class UserQuery:
    field: str = "name"  # a key of SEARCH_COLUMNS
    prefix: str = ""  # already normalised the way the column is
    kind: str | None = None
    status: str | None = None
    agency_ids: Collection[int] | None = None  # None: any (or none)
    after: tuple[str, str] | None = None  # (key, id) of the last row of the previous page
    limit: int = 50


def search_users(session: Session, q: UserQuery) -> tuple[Sequence[User], tuple[str, str] | None]:
    """One page of people and the cursor of the next page (None on the last page)."""
    column = SEARCH_COLUMNS[q.field]
    stmt = select(User).where(column.is_not(None))
    if q.prefix:
        stmt = stmt.where(column >= q.prefix, column < q.prefix + _TOP)
    if q.kind:
        stmt = stmt.where(User.kind == q.kind)
    if q.status:
        stmt = stmt.where(User.status == q.status)
    if q.agency_ids is not None:
        stmt = stmt.where(User.agency_id.in_(list(q.agency_ids)))
    if q.after is not None:
        stmt = stmt.where(tuple_(column, User.id) > tuple_(q.after[0], q.after[1]))
    stmt = stmt.order_by(column, User.id).limit(q.limit + 1)
    rows = list(session.scalars(stmt).unique().all())
    if len(rows) <= q.limit:
        return rows, None
    rows = rows[: q.limit]
    last = rows[-1]
    return rows, (str(getattr(last, column.key)), last.id)


def count_users(session: Session, kind: str) -> int:
    return int(session.scalar(select(func.count()).select_from(User).where(User.kind == kind)) or 0)


def count_clients(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Client)) or 0)


def count_live_sessions(session: Session) -> int:
    stmt = select(func.count()).select_from(LoginSession).where(
        LoginSession.ended_at.is_(None), LoginSession.expires_at > now()
    )
    return int(session.scalar(stmt) or 0)


def live_sessions(
    session: Session, *, user_id: str | None = None, limit: int = 100
) -> list[tuple[LoginSession, User]]:
    """Live sessions, newest login first (of everyone, or of one person)."""
    stmt = (
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.ended_at.is_(None), LoginSession.expires_at > now())
    )
    if user_id:
        stmt = stmt.where(LoginSession.user_id == user_id)
    stmt = stmt.order_by(LoginSession.created_at.desc(), LoginSession.id.desc()).limit(limit)
    return [(s, u) for s, u in session.execute(stmt).unique().all()]


def get_session(session: Session, session_id: str) -> LoginSession | None:
    return session.get(LoginSession, session_id)


# ---------------------------------------------------------------------------- agencies


def all_agencies(session: Session) -> Sequence[Agency]:
    return session.scalars(select(Agency).order_by(Agency.name, Agency.id)).all()


def staff_counts(session: Session) -> dict[int, int]:
    stmt = (
        select(User.agency_id, func.count())
        .where(User.agency_id.is_not(None))
        .group_by(User.agency_id)
    )
    return {int(a or 0): int(n) for a, n in session.execute(stmt).all()}


def subtree_ids(agencies: Sequence[Agency], root_id: int) -> set[int]:
    """``root_id`` and every agency below it."""
    children: dict[int | None, list[int]] = {}
    for agency in agencies:
        children.setdefault(agency.parent_id, []).append(agency.id)
    found, todo = set(), [root_id]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def move_staff(session: Session, from_id: int, to_id: int) -> int:
    result = session.execute(
        update(User)
        .where(User.agency_id == from_id)
        .values(agency_id=to_id, version=User.version + 1, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def reparent_children(session: Session, from_id: int, to_id: int) -> int:
    result = session.execute(
        update(Agency)
        .where(Agency.parent_id == from_id)
        .values(parent_id=to_id, version=Agency.version + 1, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def agency_assignments(session: Session, agency_id: int) -> Sequence[RoleAssignment]:
    return session.scalars(
        select(RoleAssignment).where(RoleAssignment.agency_id == agency_id)
    ).all()


def users_by(
    session: Session, column: ColumnElement[str] | InstrumentedAttribute[str | None],
    values: Collection[str],
) -> list[User]:
    """People whose ``column`` is one of ``values`` (in chunks: IN lists stay small)."""
    found: list[User] = []
    wanted = list(values)
    for i in range(0, len(wanted), 500):
        found.extend(session.scalars(select(User).where(column.in_(wanted[i : i + 500]))).unique())
    return found


def role_assignments(
    session: Session, role_id: int
) -> list[tuple[RoleAssignment, User | None, Agency | None]]:
    """Who holds a role: each assignment with its person or agency."""
    stmt = (
        select(RoleAssignment, User, Agency)
        .outerjoin(User, User.id == RoleAssignment.user_id)
        .outerjoin(Agency, Agency.id == RoleAssignment.agency_id)
        .where(RoleAssignment.role_id == role_id)
        .order_by(RoleAssignment.id)
    )
    return [(a, u, g) for a, u, g in session.execute(stmt).unique().all()]
