"""Roles and their assignments (to people or to whole agencies)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sso.db.models import Role, RoleAssignment, User


def get_or_create_global(session: Session, name: str, description: str = "") -> Role:
    role = session.scalar(select(Role).where(Role.name == name, Role.client_id.is_(None)))
    if role is None:
        role = Role(name=name, client_id=None, description=description)
        session.add(role)
        session.flush()
    return role


def assign_to_user(session: Session, role: Role, user_id: str) -> None:
    exists = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.role_id == role.id, RoleAssignment.user_id == user_id
        )
    )
    if exists is None:
        session.add(RoleAssignment(role_id=role.id, user_id=user_id))
        session.flush()


def role_names_for(
    session: Session, user_id: str, agency_id: int | None, client_pk: int | None
) -> list[str]:
    """Role names a person holds, directly or through their agency: global roles when
    ``client_pk`` is None, else that client's app roles."""
    holder = RoleAssignment.user_id == user_id
    if agency_id is not None:
        holder = or_(holder, RoleAssignment.agency_id == agency_id)
    client_filter = Role.client_id.is_(None) if client_pk is None else Role.client_id == client_pk
    stmt = (
        select(Role.name)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(holder, client_filter)
        .distinct()
        .order_by(Role.name)
    )
    return list(session.scalars(stmt).all())


def get(session: Session, name: str, client_pk: int | None) -> Role | None:
    client_filter = Role.client_id.is_(None) if client_pk is None else Role.client_id == client_pk
    return session.scalar(select(Role).where(Role.name == name, client_filter))


def add(session: Session, role: Role) -> Role:
    session.add(role)
    session.flush()
    return role


def assign_to_agency(session: Session, role: Role, agency_id: int) -> None:
    exists = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.role_id == role.id, RoleAssignment.agency_id == agency_id
        )
    )
    if exists is None:
        session.add(RoleAssignment(role_id=role.id, agency_id=agency_id))
        session.flush()


def list_all(session: Session) -> list[tuple[Role, int]]:
    """Every role with the number of its assignments."""
    from sqlalchemy import func

    stmt = (
        select(Role, func.count(RoleAssignment.id))
        .outerjoin(RoleAssignment, RoleAssignment.role_id == Role.id)
        .group_by(Role.id)
        .order_by(Role.client_id.is_not(None), Role.client_id, Role.name)
    )
    return [(role, int(count)) for role, count in session.execute(stmt).all()]


def delete_assignments(session: Session, role_id: int) -> int:
    """Remove every assignment of a role (before the role itself goes)."""
    from sqlalchemy import delete

    result = session.execute(
        delete(RoleAssignment)
        .where(RoleAssignment.role_id == role_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def has_active_holder(session: Session, name: str) -> bool:
    """Whether an active person holds the global role ``name``, directly or through their
    agency (the last admin must not be removed: nobody could administer any more)."""
    role = get(session, name, None)
    if role is None:
        return False
    direct = (
        select(User.id)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role_id == role.id, User.status == "active")
        .limit(1)
    )
    if session.scalar(direct) is not None:
        return True
    through_agency = (
        select(User.id)
        .join(RoleAssignment, RoleAssignment.agency_id == User.agency_id)
        .where(RoleAssignment.role_id == role.id, User.status == "active")
        .limit(1)
    )
    return session.scalar(through_agency) is not None
