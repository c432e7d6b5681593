"""``/roles``: global roles (``admin``, ``helpdesk`` …) and app roles of one client, and their
assignments to people or to every staff member of an agency. List, read, create, delete (never
a built-in one); give and take back. Admins only (``roles.manage``), as in the console; the
last active admin keeps the role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sso.admin.services import roles as service
from sso.api.common import (
    Paging,
    Reader,
    RowId,
    Writer,
    check_if_match,
    iso,
    no_content,
    page_response,
    resource,
)
from sso.core.errors import NotFound
from sso.db.models import Agency, Client, Role, RoleAssignment, User
from sso.storage import keyset
from sso.storage.admin_lists import clean

router = APIRouter(prefix="/roles", tags=["roles"])


class RoleOut(BaseModel):
    id: int
    name: str
    client_id: str | None = Field(description="The client of an app role; null: global.")
    description: str
    built_in: bool
    assignments: int
    created_at: str


class RoleList(BaseModel):
    items: list[RoleOut]


class NewRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    client_id: str | None = Field(None, max_length=64)
    description: str = Field("", max_length=300)


class AssignmentOut(BaseModel):
    id: int
    role_id: int
    user_id: str | None
    username: str | None
    agency: str | None
    created_at: str


class AssignmentList(BaseModel):
    items: list[AssignmentOut]


class NewAssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str | None = Field(None, max_length=254, description="Username, email or NIP.")
    agency: str | None = Field(None, max_length=32, description="Agency code: all its staff.")

    @model_validator(mode="after")
    def one_holder(self) -> NewAssignmentIn:
        if (self.user is None) == (self.agency is None):
            raise ValueError("give exactly one of user and agency")
        return self


def role_body(session: Session, role: Role) -> dict[str, Any]:
    client = session.get(Client, role.client_id) if role.client_id else None
    count = (
        session.scalar(
            select(func.count(RoleAssignment.id)).where(RoleAssignment.role_id == role.id)
        )
        or 0
    )
    return {
        "id": role.id,
        "name": role.name,
        "client_id": client.client_id if client else None,
        "description": role.description,
        "built_in": service.is_built_in(role),
        "assignments": int(count),
        "created_at": iso(role.created_at),
    }


def assignment_body(session: Session, row: RoleAssignment) -> dict[str, Any]:
    user = session.get(User, row.user_id) if row.user_id else None
    agency = session.get(Agency, row.agency_id) if row.agency_id else None
    return {
        "id": row.id,
        "role_id": row.role_id,
        "user_id": row.user_id,
        "username": user.username if user else None,
        "agency": agency.code if agency else None,
        "created_at": iso(row.created_at),
    }


@router.get("", response_model=RoleList)
def list_roles(
    call: Reader,
    paging: Paging,
    q: Annotated[
        str, Query(max_length=100, description="Any part of the name or description.")
    ] = "",
    client_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    call.allow("roles.manage")
    stmt = select(Role)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Role.name).like(pattern, escape="\\"),
                func.lower(Role.description).like(pattern, escape="\\"),
            )
        )
    if client_id is not None:
        stmt = stmt.join(Client, Client.id == Role.client_id).where(Client.client_id == client_id)
    found = keyset.page(
        call.session, stmt, Role.id, after=paging.after, before=paging.before, limit=paging.limit
    )
    rows = found.rows
    return page_response(
        call.request,
        [role_body(call.session, r) for r in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{role_id}", response_model=RoleOut)
def get_role(call: Reader, role_id: RowId) -> Response:
    call.allow("roles.manage")
    return resource(role_body(call.session, service.get(call.session, role_id)))


@router.post("", status_code=201, response_model=RoleOut)
def create_role(call: Writer, body: NewRoleIn) -> Response:
    call.allow("roles.manage")
    role = service.create(call.session, body.name, body.client_id, body.description, actor_id=None)
    call.commit()
    return resource(
        role_body(call.session, role), 201, location=f"{call.request.url.path}/{role.id}"
    )


@router.delete("/{role_id}", status_code=204)
def delete_role(call: Writer, role_id: RowId) -> Response:
    """Delete the role and every assignment of it (never a built-in role)."""
    call.allow("roles.manage")
    role = service.get(call.session, role_id)
    check_if_match(call.request, role_body(call.session, role), required=False)
    service.delete(call.session, role, actor_id=None)
    call.commit()
    return no_content()


@router.get("/{role_id}/assignments", response_model=AssignmentList)
def list_assignments(call: Reader, role_id: RowId, paging: Paging) -> Response:
    call.allow("roles.manage")
    role = service.get(call.session, role_id)
    stmt = select(RoleAssignment).where(RoleAssignment.role_id == role.id)
    found = keyset.page(
        call.session,
        stmt,
        RoleAssignment.id,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found.rows
    return page_response(
        call.request,
        [assignment_body(call.session, a) for a in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.post("/{role_id}/assignments", status_code=201, response_model=AssignmentOut)
def create_assignment(call: Writer, role_id: RowId, body: NewAssignmentIn) -> Response:
    """Give the role to a person or to every staff member of an agency (already given: the
    existing assignment)."""
    call.allow("roles.manage")
    session = call.session
    role = service.get(session, role_id)
    holder = f"agency:{body.agency}" if body.agency is not None else str(body.user)
    target = service.grant(session, role, holder, actor_id=None)
    column = RoleAssignment.agency_id if body.agency is not None else RoleAssignment.user_id
    value: Any = int(target) if body.agency is not None else target
    row = session.scalars(
        select(RoleAssignment).where(RoleAssignment.role_id == role.id, column == value)
    ).one()
    call.commit()
    return resource(
        assignment_body(session, row), 201, location=f"{call.request.url.path}/{row.id}"
    )


@router.delete("/{role_id}/assignments/{assignment_id}", status_code=204)
def delete_assignment(call: Writer, role_id: RowId, assignment_id: RowId) -> Response:
    call.allow("roles.manage")
    session = call.session
    role = service.get(session, role_id)
    row = session.get(RoleAssignment, assignment_id)
    if row is None or row.role_id != role.id:
        raise NotFound("admin.role.assignment_unknown")
    service.revoke(session, role, assignment_id, actor_id=None)
    call.commit()
    return no_content()
