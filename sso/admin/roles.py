"""``/admin/roles``: global and per-client app roles; give them to people or agencies
(a login within the last 5 minutes), take them back, delete one (after its confirmation page;
the built-in roles stay)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin import confirm, reauth
from sso.admin.access import ADMIN_ROLES, PERMISSIONS, FormDep, Staff, staff
from sso.admin.services import roles as service
from sso.admin.views import back, page
from sso.core.errors import DomainError, InvalidInput
from sso.db.models import Role
from sso.storage import admin_lists, impact
from sso.storage import clients as client_repo
from sso.storage import directory as dir_repo
from sso.web.deps import SessionDep

router = APIRouter()
PATH = "/admin/roles"


ROLES_PER_PAGE = 25


def built_in_roles(session: Session) -> list[dict[str, Any]]:
    """The admin console's own roles, in the order of :data:`ADMIN_ROLES`, each with what it
    allows (permission names, put in words by the template) and how many hold it."""
    rows = admin_lists.global_roles(session, ADMIN_ROLES)
    found = []
    for name in ADMIN_ROLES:
        role, holders = rows.get(name, (None, 0))
        allowed = [p for p, roles in PERMISSIONS.items() if name in roles]
        found.append({"name": name, "role": role, "holders": holders, "permissions": allowed})
    return found


def _list(
    request: Request, session: Session, who: Staff, error: DomainError | None = None
) -> Response:
    qp = request.query_params
    q = admin_lists.clean(qp.get("q", ""))
    number = int(qp["page"]) if qp.get("page", "").isdigit() and len(qp["page"]) < 7 else 1
    found = admin_lists.app_roles(
        session, query=q, exclude=ADMIN_ROLES, number=number, size=ROLES_PER_PAGE
    )
    return page(
        request,
        "admin/roles.html",
        who,
        {
            "built_in": built_in_roles(session),
            "roles": found.rows,
            "page": found,
            "q": q,
            "query": {"q": q} if q else {},
            "clients": client_repo.list_all(session),
            "error": error.message if error else None,
            "error_params": error.params if error else None,
        },
        status=error.status_code if error else 200,
    )


@router.get(PATH)
def roles_page(request: Request, session: SessionDep) -> Response:
    return _list(request, session, staff(request, session, "roles.manage"))


@router.post(PATH)
def create_role(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "roles.manage", next_path=PATH)
    try:
        role = service.create(
            session,
            form.get("name"),
            form.get("client_id") or None,
            form.get("description"),
            actor_id=who.user.id,
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back(PATH, error=exc.message)
    return back(f"{PATH}/{role.id}", "created")


def _detail(
    request: Request, session: Session, who: Staff, role: Role, error: DomainError | None = None
) -> Response:
    client = None
    if role.client_id is not None:
        client = next((c for c in client_repo.list_all(session) if c.id == role.client_id), None)
    context: dict[str, Any] = {
        "role": role,
        "client": client,
        "assignments": dir_repo.role_assignments(session, role.id),
        "built_in": service.is_built_in(role),
        "permissions": [
            p for p, held in PERMISSIONS.items() if service.is_built_in(role) and role.name in held
        ],
        # after a re-login the grant form comes back with what was typed
        "kept": reauth.kept_values(request, who),
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/role.html", who, context, status=error.status_code if error else 200
    )


@router.get(PATH + "/{role_id}")
def role_page(request: Request, session: SessionDep, role_id: int) -> Response:
    who = staff(request, session, "roles.manage")
    return _detail(request, session, who, service.get(session, role_id))


@router.get(PATH + "/{role_id}/delete/confirm")
def confirm_delete(request: Request, session: SessionDep, role_id: int) -> Response:
    who = staff(request, session, "roles.manage")
    role = service.get(session, role_id)
    path = f"{PATH}/{role.id}"
    if service.is_built_in(role):
        return _detail(request, session, who, role, InvalidInput("admin.role.built_in"))
    locale = confirm.locale_of(request)
    held = impact.role_holders(session, role.id)
    c = confirm.Confirmation(
        title="admin.confirm.role.delete.title",
        title_params={"name": role.name},
        action=f"{path}/delete",
        cancel=path,
        button="admin.confirm.role.delete.button",
        note="admin.confirm.fresh_login",
        lines=[
            confirm.line(locale, "admin.confirm.role.people", n=held["people"]),
            confirm.line(
                locale, "admin.confirm.role.agencies", n=held["agencies"], staff=held["staff"]
            ),
            confirm.line(locale, "admin.confirm.role.removed", name=role.name),
        ],
    )
    return confirm.show(request, who, c)


@router.post(PATH + "/{role_id}/{action}")
def role_action(
    request: Request, session: SessionDep, form: FormDep, role_id: int, action: str
) -> Response:
    path = f"{PATH}/{role_id}"
    who = staff(request, session, "roles.manage", next_path=path)
    if action == "delete" and not confirm.is_confirmed(request, who, form, f"{path}/delete", ()):
        return confirm.ask(f"{path}/delete/confirm")  # nothing happens without the confirmation
    if action in ("grant", "delete"):
        # Role grants change what people may do: a fresh login is required; the admin comes
        # back to the form (or the confirmation) with what they had typed.
        back_to = path if action == "grant" else f"{path}/delete/confirm"
        fresh = reauth.recent_staff(request, session, "roles.manage", form, back_to=back_to)
        if isinstance(fresh, Response):
            return fresh
        who = fresh
    role = service.get(session, role_id)
    try:
        if action == "grant":
            service.grant(session, role, form.get("holder"), actor_id=who.user.id)
            done = "granted"
        elif action == "revoke":
            raw = form.get("assignment_id")
            service.revoke(session, role, int(raw) if raw.isdigit() else 0, actor_id=who.user.id)
            done = "revoked"
        elif action == "delete":
            service.delete(session, role, actor_id=who.user.id)
            session.commit()
            return reauth.forget(request, back(PATH, "deleted"))
        else:
            raise DomainError("admin.error.unknown_action")
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back(path, error=exc.message)
    return reauth.forget(request, back(path, done))
