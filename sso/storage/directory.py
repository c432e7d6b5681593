"""Queries of the admin UI over agencies, roles and sessions: counts, live sessions, agency
subtrees, who holds a role. The people search is :mod:`sso.storage.people_search`."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from sso.core.clock import now
from sso.db.models import Agency, Client, LoginSession, Role, RoleAssignment, User


def count_clients(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Client)) or 0)


def count_live_sessions(session: Session) -> int:
    stmt = (
        select(func.count())
        .select_from(LoginSession)
        .where(LoginSession.ended_at.is_(None), LoginSession.expires_at > now())
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


def staff_counts_of(session: Session, agency_ids: Collection[int]) -> dict[int, int]:
    """:func:`staff_counts` of these agencies only."""
    if not agency_ids:
        return {}
    stmt = (
        select(User.agency_id, func.count())
        .where(User.agency_id.in_(sorted(agency_ids)))
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
    session: Session,
    column: ColumnElement[str] | InstrumentedAttribute[str | None],
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


def roles_held(
    session: Session, user_id: str, agency_id: int | None
) -> list[tuple[RoleAssignment, Role, Client | None]]:
    """The person's role assignments, their own and their agency's, each with its role and,
    for an app role, its client; global roles first, then by name."""
    holder = RoleAssignment.user_id == user_id
    if agency_id is not None:
        holder = or_(holder, RoleAssignment.agency_id == agency_id)
    stmt = (
        select(RoleAssignment, Role, Client)
        .join(Role, Role.id == RoleAssignment.role_id)
        .outerjoin(Client, Client.id == Role.client_id)
        .where(holder)
        .order_by(Role.client_id.is_not(None), Client.client_id, Role.name, RoleAssignment.id)
    )
    return [(a, r, c) for a, r, c in session.execute(stmt).all()]


def all_roles(session: Session) -> list[tuple[Role, Client | None]]:
    """Every role with its client (app roles), for choosing one by name."""
    stmt = (
        select(Role, Client)
        .outerjoin(Client, Client.id == Role.client_id)
        .order_by(Role.client_id.is_not(None), Client.client_id, Role.name)
    )
    return [(r, c) for r, c in session.execute(stmt).all()]


def role_by_label(session: Session, label: str) -> Role | None:
    """``name`` (a global role) or ``client_id/name`` (an app role)."""
    if not label.isprintable():  # no role name holds one (nor can PostgreSQL compare a NUL)
        return None
    client_id, _, name = label.strip().rpartition("/")
    stmt = select(Role).where(Role.name == name.strip().lower())
    if client_id:
        stmt = stmt.join(Client, Client.id == Role.client_id).where(
            Client.client_id == client_id.strip()
        )
    else:
        stmt = stmt.where(Role.client_id.is_(None))
    return session.scalar(stmt)
