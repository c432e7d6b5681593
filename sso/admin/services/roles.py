"""Roles: global ones (``admin``, ``helpdesk`` …) and app roles of one client (``organizer``
on the event app), given to a person or to every staff member of an agency. App roles reach
the ``roles`` claim of tokens for their client (``sso.oidc.claims``)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import Role, RoleAssignment
from sso.storage import agencies as agency_repo
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import roles as role_repo
from sso.storage import users as user_repo

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


def create(
    session: Session, name: str, client_id: str | None, description: str, *, actor_id: str | None
) -> Role:
    name = name.strip().lower()
    if not _NAME.fullmatch(name):
        raise InvalidInput("admin.role.name_invalid")
    client_pk = None
    if client_id:
        client = client_repo.get_by_client_id(session, client_id)
        if client is None:
            raise NotFound("error.client_unknown")
        client_pk = client.id
    if role_repo.get(session, name, client_pk) is not None:
        raise Conflict("admin.role.exists")
    role = role_repo.add(
        session, Role(name=name, client_id=client_pk, description=description.strip()[:300])
    )
    audit.record(
        session,
        Event.ROLE_CREATED,
        actor_id=actor_id,
        target_type="role",
        target_id=str(role.id),
        name=name,
        client_id=client_id,
    )
    return role


def describe(session: Session, role: Role, description: str, *, actor_id: str) -> bool:
    """Change a role's description; returns whether it changed."""
    description = description.strip()[:300]
    if role.description == description:
        return False
    old, role.description = role.description, description
    session.flush()
    audit.record(
        session,
        Event.ROLE_UPDATED,
        actor_id=actor_id,
        target_type="role",
        target_id=str(role.id),
        name=role.name,
        old=old,
        new=description,
    )
    return True


def get(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound("admin.role.unknown")
    return role


def grant(session: Session, role: Role, holder: str, *, actor_id: str | None) -> str:
    """Give ``role`` to a person (username, email or NIP) or an agency (``agency:CODE``)."""
    holder = holder.strip()
    if holder.casefold().startswith("agency:"):
        agency = agency_repo.get_by_code(session, holder.split(":", 1)[1].strip().upper())
        if agency is None:
            raise NotFound("error.agency_unknown")
        role_repo.assign_to_agency(session, role, agency.id)
        target_type, target_id = "agency", str(agency.id)
    else:
        from sso.accounts.identifiers import normalize_login

        user = user_repo.find_by_login(session, normalize_login(holder)) if holder else None
        if user is None:
            raise NotFound("admin.error.user_unknown")
        role_repo.assign_to_user(session, role, user.id)
        target_type, target_id = "user", user.id
    audit.record(
        session,
        Event.ROLE_GRANTED,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        role=role.name,
        role_id=role.id,
    )
    return target_id


def revoke(session: Session, role: Role, assignment_id: int, *, actor_id: str | None) -> None:
    row = session.get(RoleAssignment, assignment_id)
    if row is None or row.role_id != role.id:
        raise NotFound("admin.role.assignment_unknown")
    if (
        role.name == "admin"
        and role.client_id is None
        and actor_id is not None
        and row.user_id == actor_id
    ):
        raise InvalidInput("admin.error.not_yourself")
    target_type, target_id = (
        ("user", row.user_id) if row.user_id else ("agency", str(row.agency_id))
    )
    session.delete(row)
    session.flush()
    if role.name == "admin" and role.client_id is None:
        keep_an_admin(session)
    audit.record(
        session,
        Event.ROLE_REVOKED,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        role=role.name,
        role_id=role.id,
    )


def keep_an_admin(session: Session) -> None:
    """Refuse a change (already flushed; the caller rolls back) that leaves no active person
    holding the admin role: nobody could administer the provider any more, and only a
    database operator could repair it. Call it only when someone held the role before."""
    if not role_repo.has_active_holder(session, "admin"):
        raise Conflict("admin.error.last_admin")


BUILT_IN = frozenset({"admin", "opd-admin", "helpdesk", "auditor"})


def is_built_in(role: Role) -> bool:
    """The admin console's own roles (:mod:`sso.admin.access`) cannot be deleted."""
    return role.client_id is None and role.name in BUILT_IN


def delete(session: Session, role: Role, *, actor_id: str | None) -> int:
    """Delete ``role`` and every assignment of it; returns how many assignments went."""
    if is_built_in(role):
        raise InvalidInput("admin.role.built_in")
    removed = role_repo.delete_assignments(session, role.id)
    name, role_id = role.name, role.id
    session.delete(role)
    session.flush()
    audit.record(
        session,
        Event.ROLE_DELETED,
        actor_id=actor_id,
        target_type="role",
        target_id=str(role_id),
        name=name,
        assignments=removed,
    )
    return removed
