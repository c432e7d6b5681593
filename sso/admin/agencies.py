"""``/admin/agencies``: the OPD tree with staff counts; create, rename, move, merge (admins;
an opd-admin sees their own part of the tree)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin.access import FormDep, Staff, staff
from sso.admin.services import agencies as service
from sso.admin.views import back, page
from sso.core.errors import Conflict, DomainError
from sso.storage import directory as dir_repo
from sso.web.deps import SessionDep

router = APIRouter()
PATH = "/admin/agencies"


def tree(session: Session, who: Staff) -> list[dict[str, Any]]:
    """Depth-first rows with their depth, limited to ``who``'s scope."""
    agencies = list(dir_repo.all_agencies(session))
    counts = dir_repo.staff_counts(session)
    ids = {a.id for a in agencies}
    children: dict[int | None, list[Any]] = {}
    for a in agencies:
        parent = a.parent_id if a.parent_id in ids else None
        children.setdefault(parent, []).append(a)
    rows: list[dict[str, Any]] = []

    def walk(parent: int | None, depth: int) -> None:
        for a in children.get(parent, []):
            if who.scope is None or a.id in who.scope:
                rows.append({"agency": a, "depth": depth, "staff": counts.get(a.id, 0)})
            walk(a.id, depth + 1)

    walk(None, 0)
    return rows


def _page(request: Request, session: Session, who: Staff, error: DomainError | None = None) -> Response:
    return page(request, "admin/agencies.html", who, {
        "rows": tree(session, who), "can_manage": who.can("agencies.manage"),
        "error": error.message if error else None, "error_params": error.params if error else None,
    }, status=error.status_code if error else 200)


@router.get(PATH)
def agencies_page(request: Request, session: SessionDep) -> Response:
    return _page(request, session, staff(request, session, "agencies.view"))


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


@router.post(PATH + "/{action}")
def agency_action(request: Request, session: SessionDep, form: FormDep, action: str) -> Response:
    who = staff(request, session, "agencies.manage", next_path=PATH)
    actor = who.user.id
    version = _int(form.get("version")) or 0
    agency_id = _int(form.get("agency_id")) or 0
    try:
        if action == "create":
            service.create(session, form.get("code"), form.get("name"),
                           _int(form.get("parent_id")), actor_id=actor)
            done = "created"
        elif action == "rename":
            service.rename(session, agency_id, form.get("name"), version, actor_id=actor)
            done = "renamed"
        elif action == "move":
            service.move(session, agency_id, _int(form.get("parent_id")), version, actor_id=actor)
            done = "moved"
        elif action == "merge":
            service.merge(session, agency_id, _int(form.get("target_id")) or 0, actor_id=actor)
            done = "merged"
        else:
            raise DomainError("admin.error.unknown_action")
        session.commit()
    except StaleDataError:
        session.rollback()
        return _page(request, session, who, Conflict("admin.conflict"))
    except DomainError as exc:
        session.rollback()
        return _page(request, session, who, exc)
    return back(PATH, done)
