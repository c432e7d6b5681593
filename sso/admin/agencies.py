"""``/admin/agencies``: the OPD tree with staff counts; create, rename, move, merge, delete an
empty one (admins; an opd-admin sees their own part of the tree). Moving, merging and deleting
first show what will happen (:mod:`sso.admin.confirm`); a merge also asks for the target's code
to be typed and a recent login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin import confirm, reauth
from sso.admin.access import Form, FormDep, Staff, staff
from sso.admin.services import agencies as service
from sso.admin.views import back, page
from sso.core.errors import DomainError, InvalidInput
from sso.db.models import Agency
from sso.storage import directory as dir_repo
from sso.storage import impact
from sso.web.deps import SessionDep

router = APIRouter()
PATH = "/admin/agencies"
TOP = "top"  # the "no parent" choice of a move (an empty value is "not chosen")
# What each confirmed action's form carries (and its confirmation covers).
FIELDS = {
    "move": ("agency_id", "parent_id", "version"),
    "merge": ("agency_id", "target_id"),
    "delete": ("agency_id", "version"),
}


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
                rows.append(
                    {
                        "agency": a,
                        "depth": depth,
                        "staff": counts.get(a.id, 0),
                        "empty": counts.get(a.id, 0) == 0 and not children.get(a.id),
                    }
                )
            walk(a.id, depth + 1)

    walk(None, 0)
    return rows


def nested(rows: list[dict[str, Any]], query: str = "") -> list[dict[str, Any]]:
    """The flat depth-first ``rows`` as a tree of nodes (``children``; ``total``: staff of the
    agency and everything below it, as the user list filtered to it counts). With ``query``
    (any part of a code or name, any case) only the matches stay, with the agencies above
    them, opened along the way; a match keeps its own sub-agencies, closed."""
    stack: list[dict[str, Any]] = []
    roots: list[dict[str, Any]] = []
    for row in rows:
        node = {**row, "children": [], "total": row["staff"], "match": False, "open": False}
        while stack and stack[-1]["depth"] >= row["depth"]:
            stack.pop()
        (stack[-1]["children"] if stack else roots).append(node)
        stack.append(node)

    def total(node: dict[str, Any]) -> int:
        node["total"] = node["staff"] + sum(total(c) for c in node["children"])
        return int(node["total"])

    for root in roots:
        total(root)
    needle = " ".join(query.split()).casefold()
    if not needle:
        return roots

    def keep(node: dict[str, Any]) -> bool:
        agency = node["agency"]
        node["match"] = needle in agency.code.casefold() or needle in agency.name.casefold()
        kept = [c for c in node["children"] if keep(c)]
        node["open"] = bool(kept)
        if not node["match"]:
            node["children"] = kept
        return bool(node["match"] or kept)

    return [r for r in roots if keep(r)]


def _page(
    request: Request, session: Session, who: Staff, error: DomainError | None = None
) -> Response:
    rows = tree(session, who)
    query = "".join(c for c in request.query_params.get("q", "") if c.isprintable())[:100].strip()
    context: dict[str, Any] = {
        "rows": rows,
        "nodes": nested(rows, query),
        "q": query,
        "can_manage": who.can("agencies.manage"),
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/agencies.html", who, context, status=error.status_code if error else 200
    )


@router.get(PATH)
def agencies_page(request: Request, session: SessionDep) -> Response:
    return _page(request, session, staff(request, session, "agencies.view"))


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _get(session: Session, text: str) -> Agency:
    return service.get(session, _int(text) or 0)


def _confirmation(
    request: Request, session: Session, action: str, values: dict[str, str]
) -> confirm.Confirmation:
    """What moving, merging or deleting will do, counted now; raises when it cannot be done."""
    locale = confirm.locale_of(request)
    line = confirm.line
    agency = _get(session, values.get("agency_id", ""))
    subtree = dir_repo.subtree_ids(dir_repo.all_agencies(session), agency.id)
    c = confirm.Confirmation(
        title=f"admin.confirm.agency.{action}.title",
        title_params={"code": agency.code},
        action=f"{PATH}/{action}",
        cancel=PATH,
        button=f"admin.confirm.agency.{action}.button",
    )
    if action == "move":
        raw = values.get("parent_id", "")
        if raw != TOP and _int(raw) is None:
            raise InvalidInput("admin.confirm.choose")
        parent = None if raw == TOP else _get(session, raw)
        if parent is not None and parent.id in subtree:
            raise InvalidInput("admin.agency.cycle")
        where = parent.code if parent else ""
        c.fields = {"agency_id": str(agency.id), "parent_id": raw, "version": str(agency.version)}
        c.lines = [
            line(
                locale,
                "admin.confirm.agency.moved" if parent else "admin.confirm.agency.moved_top",
                code=agency.code,
                parent=where,
                subs=len(subtree) - 1,
                staff=impact.staff_in(session, subtree),
            )
        ]
        c.danger = False
    elif action == "merge":
        target = _get(session, values.get("target_id", ""))
        if target.id == agency.id:
            raise InvalidInput("admin.agency.merge_self")
        c.fields = {"agency_id": str(agency.id), "target_id": str(target.id)}
        c.title_params["target"] = target.code
        c.type_code = target.code
        c.note = "admin.confirm.fresh_login"
        c.lines = [
            line(
                locale,
                "admin.confirm.agency.staff_to",
                n=impact.staff_in(session, {agency.id}),
                target=target.code,
            ),
            line(
                locale,
                "admin.confirm.agency.subs_to",
                n=impact.sub_agencies(session, agency.id),
                target=target.code,
            ),
            line(
                locale,
                "admin.confirm.agency.roles_to",
                n=impact.agency_role_assignments(session, agency.id),
                target=target.code,
            ),
            line(locale, "admin.confirm.agency.removed", code=agency.code),
        ]
    else:
        staff_n = impact.staff_in(session, {agency.id})
        subs = impact.sub_agencies(session, agency.id)
        if staff_n or subs:
            raise InvalidInput("admin.agency.not_empty", staff=staff_n, subs=subs)
        c.fields = {"agency_id": str(agency.id), "version": str(agency.version)}
        c.lines = [
            line(locale, "admin.confirm.agency.empty", code=agency.code, staff=0, subs=0),
            line(
                locale,
                "admin.confirm.agency.roles_dropped",
                n=impact.agency_role_assignments(session, agency.id),
            ),
            line(locale, "admin.confirm.agency.removed", code=agency.code),
        ]
    return c


@router.get(PATH + "/{action}/confirm")
def confirm_agency_action(request: Request, session: SessionDep, action: str) -> Response:
    who = staff(request, session, "agencies.manage")
    if action not in FIELDS:
        return _page(request, session, who, InvalidInput("admin.error.unknown_action"))
    values = dict(request.query_params)
    try:
        c = _confirmation(request, session, action, values)
    except DomainError as exc:
        return _page(request, session, who, exc)
    return confirm.show(request, who, c, reauth.kept_values(request, who))


def _confirm_url(action: str, form: Form) -> str:
    fields = {n: form.get(n) for n in FIELDS[action]}
    target = confirm.ask(f"{PATH}/{action}/confirm", fields).headers["location"]
    return str(target)


@router.post(PATH + "/{action}")
def agency_action(request: Request, session: SessionDep, form: FormDep, action: str) -> Response:
    who = staff(request, session, "agencies.manage", next_path=PATH)
    if action in FIELDS:
        again = _confirm_url(action, form)
        if not confirm.is_confirmed(request, who, form, f"{PATH}/{action}", FIELDS[action]):
            return confirm.ask(again)  # nothing happens without the confirmation page
        if action == "merge":
            fresh = reauth.recent_staff(request, session, "agencies.manage", form, back_to=again)
            if isinstance(fresh, Response):
                return fresh
            who = fresh
            target = service.get(session, _int(form.get("target_id")) or 0)
            if form.get(confirm.TYPED_FIELD).strip().upper() != target.code:
                return confirm.ask(again, error="admin.confirm.code_mismatch")
    actor = who.user.id
    version = _int(form.get("version")) or 0
    agency_id = _int(form.get("agency_id")) or 0
    try:
        if action == "create":
            service.create(
                session,
                form.get("code"),
                form.get("name"),
                _int(form.get("parent_id")),
                actor_id=actor,
            )
            done = "created"
        elif action == "rename":
            service.rename(session, agency_id, form.get("name"), version, actor_id=actor)
            done = "renamed"
        elif action == "move":
            parent = None if form.get("parent_id") == TOP else _int(form.get("parent_id"))
            service.move(session, agency_id, parent, version, actor_id=actor)
            done = "moved"
        elif action == "merge":
            service.merge(session, agency_id, _int(form.get("target_id")) or 0, actor_id=actor)
            done = "merged"
        elif action == "delete":
            service.delete(session, agency_id, version, actor_id=actor)
            done = "deleted"
        else:
            raise DomainError("admin.error.unknown_action")
        session.commit()
    except StaleDataError:
        session.rollback()
        return back(PATH, error="admin.conflict")
    except DomainError as exc:
        session.rollback()
        return back(PATH, error=exc.message)
    return reauth.forget(request, back(PATH, done))
