"""Reads for configuration as code (sso.config_code) that no other repository offers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from sso.db.models import Agency, Client, Role, RoleAssignment


def agency_role_assignments(session: Session) -> list[tuple[RoleAssignment, Role, str, str | None]]:
    """Every role given to an agency: ``(assignment, role, agency code, client_id of an app
    role or None)``."""
    client = aliased(Client)
    stmt = (
        select(RoleAssignment, Role, Agency.code, client.client_id)
        .join(Role, Role.id == RoleAssignment.role_id)
        .join(Agency, Agency.id == RoleAssignment.agency_id)
        .outerjoin(client, client.id == Role.client_id)
        .order_by(RoleAssignment.id)
    )
    return [(a, r, code, cid) for a, r, code, cid in session.execute(stmt).all()]


def role_assignment(session: Session, role_id: int, agency_id: int) -> RoleAssignment | None:
    return session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.role_id == role_id, RoleAssignment.agency_id == agency_id
        )
    )
