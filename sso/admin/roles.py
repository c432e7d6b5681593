"""``/admin/roles``: global and per-client app roles; give them to people or agencies
(a login within the last 5 minutes), take them back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin.access import FormDep, Staff, staff
from sso.admin.services import roles as service
from sso.admin.views import back, page
from sso.core.errors import DomainError
from sso.db.models import Role
from sso.storage import clients as client_repo
from sso.storage import directory as dir_repo
from sso.storage import roles as role_repo
from sso.web.deps import SessionDep

router = APIRouter()
PATH = "/admin/roles"


def _list(request: Request, session: Session, who: Staff, error: DomainError | None = None) -> Response:
    clients = {c.id: c for c in client_repo.list_all(session)}
    return page(request, "admin/roles.html", who, {
        "roles": role_repo.list_all(session), "clients": clients,
        "error": error.message if error else None, "error_params": error.params if error else None,
    }, status=error.status_code if error else 200)


@router.get(PATH)
def roles_page(request: Request, session: SessionDep) -> Response:
    return _list(request, session, staff(request, session, "roles.manage"))


@router.post(PATH)
def create_role(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "roles.manage", next_path=PATH)
    try:
        role = service.create(session, form.get("name"), form.get("client_id") or None,
                              form.get("description"), actor_id=who.user.id)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _list(request, session, who, exc)
    return back(f"{PATH}/{role.id}", "created")


def _detail(request: Request, session: Session, who: Staff, role: Role,
            error: DomainError | None = None) -> Response:
    client = None
    if role.client_id is not None:
        client = next((c for c in client_repo.list_all(session) if c.id == role.client_id), None)
    return page(request, "admin/role.html", who, {
        "role": role, "client": client, "assignments": dir_repo.role_assignments(session, role.id),
        "error": error.message if error else None, "error_params": error.params if error else None,
    }, status=error.status_code if error else 200)


@router.get(PATH + "/{role_id}")
def role_page(request: Request, session: SessionDep, role_id: int) -> Response:
    who = staff(request, session, "roles.manage")
    return _detail(request, session, who, service.get(session, role_id))


@router.post(PATH + "/{role_id}/{action}")
def role_action(request: Request, session: SessionDep, form: FormDep, role_id: int,
                action: str) -> Response:
    path = f"{PATH}/{role_id}"
    # Role grants change what people may do: a fresh login is required.
    who = staff(request, session, "roles.manage", recent=action == "grant", next_path=path)
    role = service.get(session, role_id)
    try:
        if action == "grant":
            service.grant(session, role, form.get("holder"), actor_id=who.user.id)
            done = "granted"
        elif action == "revoke":
            raw = form.get("assignment_id")
            service.revoke(session, role, int(raw) if raw.isdigit() else 0, actor_id=who.user.id)
            done = "revoked"
        else:
            raise DomainError("admin.error.unknown_action")
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _detail(request, session, who, service.get(session, role_id), exc)
    return back(path, done)
