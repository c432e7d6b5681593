"""``/admin/users``: find people (prefix search, keyset pages, filters), create staff, edit
with optimistic locking, and the support actions (disable / enable, unlock, reset link,
reset MFA, end sessions). Every action checks role *and* scope on the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.background import BackgroundTask

from sso.accounts import activation
from sso.accounts.service import NewUser, create_user
from sso.accounts.throttle import for_runtime
from sso.admin.access import (
    ADMIN,
    FormDep,
    Staff,
    admin_roles_of,
    check_agency,
    check_person,
    runtime_of,
    staff,
)
from sso.admin.services import people
from sso.admin.views import back, decode_cursor, encode_cursor, page
from sso.core.errors import DomainError, NotFound
from sso.db.models import User
from sso.oidc.logout import deliver_soon
from sso.storage import audit_queries
from sso.storage import directory as dir_repo
from sso.storage import users as user_repo
from sso.web.deps import SessionDep
from sso.web.routes.account_self_service import mailer
from sso.web.routes.interaction import password_hasher

router = APIRouter()
PAGE_SIZE = 50


def search_params(text: str, field: str) -> tuple[str, str]:
    """Which indexed key to search and the prefix normalised like that key."""
    text = text.strip()
    if field not in dir_repo.SEARCH_COLUMNS:
        digits = text.replace(" ", "")
        field = "nip" if digits.isdigit() else "email" if "@" in text else "name"
    if field == "nip":
        return field, text.replace(" ", "")
    if field == "name":
        return field, " ".join(text.split()).casefold()
    return field, text.casefold()


def _agencies(session: Session, who: Staff) -> list[Any]:
    return [a for a in dir_repo.all_agencies(session) if who.scope is None or a.id in who.scope]


@router.get("/admin/users")
def list_users(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.view")
    qp = request.query_params
    field, prefix = search_params(qp.get("q", "")[:200], qp.get("field", "auto"))
    agency = qp.get("agency", "")
    agency_ids: set[int] | None = None
    if agency.isdigit():
        agency_ids = dir_repo.subtree_ids(dir_repo.all_agencies(session), int(agency))
    if who.scope is not None:
        agency_ids = set(who.scope) if agency_ids is None else agency_ids & who.scope
    cursor = decode_cursor(qp.get("after"))
    after = (str(cursor[0]), str(cursor[1])) if isinstance(cursor, list) and len(cursor) == 2 else None
    kind = qp.get("kind") if qp.get("kind") in ("staff", "citizen") else None
    if who.scope is not None:
        kind = "staff"
    status = qp.get("status") if qp.get("status") in ("active", "disabled") else None
    rows, nxt = dir_repo.search_users(session, dir_repo.UserQuery(
        field=field, prefix=prefix, kind=kind, status=status, agency_ids=agency_ids,
        after=after, limit=PAGE_SIZE))
    next_query = None
    if nxt is not None:
        keep = {k: v for k, v in qp.items() if k not in ("after", "done")}
        next_query = {**keep, "after": encode_cursor(list(nxt))}
    return page(request, "admin/users.html", who, {
        "rows": rows, "next_query": next_query, "q": qp.get("q", ""), "field": qp.get("field", "auto"),
        "kind": kind or "", "status": status or "", "agency": agency,
        "agencies": _agencies(session, who),
    })


# ---------------------------------------------------------------------------- create


def _new_form(request: Request, session: Session, who: Staff, values: dict[str, str],
              error: DomainError | None = None) -> Response:
    return page(request, "admin/user_new.html", who, {
        "values": values, "agencies": _agencies(session, who),
        "error": error.message if error else None, "error_params": error.params if error else None,
    }, status=error.status_code if error else 200)


@router.get("/admin/users/new")
def new_user_form(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.manage")
    return _new_form(request, session, who, {})


NEW_FIELDS = ("username", "display_name", "email", "nip", "agency_id", "position", "phone")


@router.post("/admin/users/new")
def create_staff(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "users.manage", next_path="/admin/users/new")
    values = {k: form.get(k) for k in NEW_FIELDS}
    values["send_activation"] = "yes" if form.flag("send_activation") else "no"
    agency_id = int(values["agency_id"]) if values["agency_id"].isdigit() else None
    check_agency(session, who, agency_id, "users.create")
    runtime = runtime_of(request)
    mails = []
    try:
        agency = dir_repo.all_agencies(session)
        code = next((a.code for a in agency if a.id == agency_id), None)
        user = create_user(session, password_hasher(runtime), NewUser(
            username=values["username"] or values["nip"], email=values["email"] or None,
            kind="staff", display_name=values["display_name"], nip=values["nip"] or None,
            agency_code=code, position=values["position"] or None,
            phone=values["phone"] or None, email_verified=bool(values["email"]),
        ), None, actor_id=who.user.id)
        if form.flag("send_activation") and user.email:
            # A set-password link valid 7 days (sso.accounts.activation), not a 30-minute reset.
            mails = [activation.issue(session, runtime.settings, user, actor_id=who.user.id)]
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _new_form(request, session, who, values, exc)
    response = back(f"/admin/users/{user.id}", "created")
    if mails:
        response.background = BackgroundTask(mailer(runtime).deliver, mails)
    return response


# ---------------------------------------------------------------------------- one person


def _target(session: Session, user_id: str) -> User:
    user = user_repo.get(session, user_id[:36])
    if user is None:
        raise NotFound("admin.error.user_unknown")
    return user


def _detail(request: Request, session: Session, who: Staff, user: User,
            error: DomainError | None = None, values: dict[str, str] | None = None) -> Response:
    return page(request, "admin/user.html", who, {
        "user": user, "values": values, "agencies": _agencies(session, who),
        "roles": sorted(admin_roles_of(session, user)),
        "sessions": dir_repo.live_sessions(session, user_id=user.id, limit=20),
        "events": audit_queries.about_user(session, user.id, limit=20)
        if who.can("users.view") else [],
        "can_manage": who.can("users.manage"), "can_support": who.can("users.support"),
        "error": error.message if error else None, "error_params": error.params if error else None,
    }, status=error.status_code if error else 200)


@router.get("/admin/users/{user_id}")
def show_user(request: Request, session: SessionDep, user_id: str) -> Response:
    who = staff(request, session, "users.view")
    user = _target(session, user_id)
    check_person(session, who, user, "users.view")
    return _detail(request, session, who, user)


@router.post("/admin/users/{user_id}")
def edit_user(request: Request, session: SessionDep, form: FormDep, user_id: str) -> Response:
    path = f"/admin/users/{user_id[:36]}"
    who = staff(request, session, "users.manage", next_path=path)
    user = _target(session, user_id)
    check_person(session, who, user, "users.edit")
    agency = form.get("agency_id")
    change = people.PersonEdit(
        version=int(form.get("version")) if form.get("version").isdigit() else -1,
        display_name=form.get("display_name"), email=form.get("email"),
        phone=form.get("phone"), position=form.get("position"), nip=form.get("nip"),
        agency_id=int(agency) if agency.isdigit() else None,
    )
    if user.kind == "staff":
        check_agency(session, who, change.agency_id, "users.edit")
    try:
        people.edit(session, user, change, actor_id=who.user.id)
        session.commit()
    except StaleDataError:
        session.rollback()
        user = _target(session, user_id)
        return _detail(request, session, who, user, people.stale(user, change.version),
                       form_values(form))
    except DomainError as exc:
        session.rollback()
        user = _target(session, user_id)
        return _detail(request, session, who, user, exc, form_values(form))
    return back(path, "saved")


def form_values(form: Any) -> dict[str, str]:
    return {k: form.get(k) for k in ("display_name", "email", "phone", "position", "nip",
                                     "agency_id")}


ACTIONS = {
    "disable": "users.manage", "enable": "users.manage", "end-sessions": "users.manage",
    "unlock": "users.support", "reset-link": "users.support", "reset-mfa": "users.support",
}


@router.post("/admin/users/{user_id}/{action}")
def user_action(
    request: Request, session: SessionDep, form: FormDep, user_id: str, action: str
) -> Response:
    if action not in ACTIONS:
        raise NotFound("admin.error.unknown_action")
    path = f"/admin/users/{user_id[:36]}"
    permission = ACTIONS[action]
    who = staff(request, session, permission, next_path=path)
    user = _target(session, user_id)
    check_person(session, who, user, permission)
    if action == "disable" and ADMIN in admin_roles_of(session, user):
        # Disabling an admin is sensitive: a login within the last 5 minutes.
        who = staff(request, session, permission, recent=True, next_path=path)
    runtime = runtime_of(request)
    mails: list[Any] = []
    deliveries: list[str] = []
    actor = who.user.id
    try:
        if action in ("disable", "enable"):
            people.set_disabled(session, user, action == "disable", actor_id=actor)
        elif action == "unlock":
            throttle = for_runtime(runtime.extras, runtime.settings, runtime.sessions)
            people.unlock(session, throttle, user, actor_id=actor)
        elif action == "reset-link":
            mails = people.send_reset_link(session, runtime.settings, user, actor_id=actor)
        elif action == "reset-mfa":
            people.reset_mfa(session, user, actor_id=actor)
        else:
            deliveries = people.end_sessions(session, user, actor_id=actor)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _detail(request, session, who, _target(session, user_id), exc)
    deliver_soon(runtime, deliveries)
    done = {"disable": "disabled", "enable": "enabled", "unlock": "unlocked",
            "reset-link": "reset_sent", "reset-mfa": "mfa_reset",
            "end-sessions": "sessions_ended"}[action]
    response = back(path, done)
    if mails:
        response.background = BackgroundTask(mailer(runtime).deliver, mails)
    return response
