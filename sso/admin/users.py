"""``/admin/users``: find people (any part of name, username, email or NIP; pages both ways,
a total, page sizes, three sort orders; filters), the person's page in tabs (details,
credentials, roles given and taken back, sessions, connected apps, recent events), edit with
optimistic locking. Creating staff is :mod:`sso.admin.user_new`, the support actions (disable /
enable, unlock, reset link, reset MFA, end sessions) :mod:`sso.admin.user_actions`. Every
action checks role *and* scope on the server."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin.access import (
    ADMIN,
    FormDep,
    Staff,
    admin_roles_of,
    check_agency,
    check_person,
    staff,
)
from sso.admin.services import people
from sso.admin.services import roles as role_service
from sso.admin.views import back, page
from sso.core.errors import Conflict, DomainError, NotFound
from sso.db.models import RoleAssignment, User
from sso.storage import audit_queries, people_search
from sso.storage import clients as client_repo
from sso.storage import consents as consent_repo
from sso.storage import directory as dir_repo
from sso.storage import grants as grant_repo
from sso.storage import mfa as mfa_repo
from sso.storage import users as user_repo
from sso.web.account_ui import local_time
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()
PAGE_SIZES = (25, 50, 100)
SORT_KEYS = ("name", "-name", "created", "-created", "last_login", "-last_login")


def agencies_in_scope(session: Session, who: Staff) -> list[Any]:
    return [a for a in dir_repo.all_agencies(session) if who.scope is None or a.id in who.scope]


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


@router.get("/admin/users")
def list_users(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.view")
    qp = request.query_params
    text = qp.get("q", "")[:200]
    agency = qp.get("agency", "")
    agency_ids: set[int] | None = None
    if agency.isdigit():
        agency_ids = dir_repo.subtree_ids(dir_repo.all_agencies(session), int(agency))
    kind = qp.get("kind") if qp.get("kind") in ("staff", "citizen") else None
    # an opd-admin: their agencies' staff only
    kind, agency_ids = people.visible(who.authority, kind, agency_ids)
    status = qp.get("status") if qp.get("status") in ("active", "disabled") else None
    # Locked: password sign-in refused for now by the guessing limits (the dashboard's count).
    locked = qp.get("locked") == "1"
    locked_ids = runtime_of(request).throttle.locked_accounts(session) if locked else None
    size_raw = qp.get("size", "")
    size = int(size_raw) if size_raw.isdigit() and int(size_raw) in PAGE_SIZES else 50
    sort = _choice(qp.get("sort"), SORT_KEYS, "name")
    last_page = people_search.MAX_OFFSET // size + 1
    number_raw = qp.get("page", "1")
    number = min(max(int(number_raw), 1), last_page) if number_raw.isdigit() else 1
    query = people_search.UserQuery(
        text=text,
        kind=kind,
        status=status,
        agency_ids=agency_ids,
        ids=locked_ids,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        offset=(number - 1) * size,
        limit=size,
    )
    estimate = people_search.estimate_users(session, query)
    rows, more = people_search.search_users(session, query, estimate)
    total = people_search.total_users(
        session, query, exact_up_to=EXACT_UP_TO, page=(len(rows), more), estimate=estimate
    )
    keep = {
        k: v
        for k, v in {
            "q": text,
            "kind": kind or "",
            "status": status or "",
            "agency": agency,
            "locked": "1" if locked else "",
            "sort": sort if sort != "name" else "",
            "size": str(size) if size != 50 else "",
        }.items()
        if v
    }

    def link(**change: str) -> str:
        params = {**keep, **change}
        return "/admin/users?" + urlencode(
            {k: v for k, v in params.items() if v and not (k == "page" and v == "1")}
        )

    # A non-admin may not open an admin's page (access.check_person): no link that refuses.
    closed: set[str] = (
        set() if who.is_admin else {u.id for u in rows if ADMIN in admin_roles_of(session, u)}
    )
    return page(
        request,
        "admin/users.html",
        who,
        {
            "rows": rows,
            "closed": closed,
            "q": text,
            "kind": kind or "",
            "status": status or "",
            "agency": agency,
            "locked": locked,
            "agencies": agencies_in_scope(session, who),
            "sort": sort,
            "size": size,
            "sizes": PAGE_SIZES,
            "sorts": SORT_KEYS,
            "total": total,
            "page_number": number,
            "first_row": (number - 1) * size + 1 if rows else 0,
            "last_row": (number - 1) * size + len(rows),
            "prev_href": link(page=str(number - 1)) if number > 1 else None,
            "next_href": link(page=str(number + 1)) if more and number < last_page else None,
            "capped": more and number >= last_page,
            "sort_href": {key: link(sort=key if key != "name" else "") for key in SORT_KEYS},
            "wib": local_time,
        },
    )


EXACT_UP_TO = people_search.EXACT_UP_TO  # the test of the estimate lowers it on the app's module


# ---------------------------------------------------------------------------- one person


def target_user(session: Session, user_id: str) -> User:
    user = user_repo.get(session, user_id[:36])
    if user is None:
        raise NotFound("admin.error.user_unknown")
    return user


TABS = ("details", "credentials", "roles", "sessions", "apps", "events")


def _locked(request: Request, session: Session, user: User) -> bool:
    """Whether password logins to the account are refused for now (the rule of
    :meth:`Throttle.locked_accounts`; the unlock action clears the same counters)."""
    return bool(runtime_of(request).throttle.locked_accounts(session, [user.id]))


def _tab_data(
    request: Request, session: Session, who: Staff, user: User, tab: str
) -> dict[str, Any]:
    """What one tab shows (only the open tab is queried)."""
    if tab == "credentials":
        totp = mfa_repo.get_totp(session, user.id)
        return {
            "password": user.password,
            "totp": totp if totp is not None and totp.confirmed_at is not None else None,
            "passkeys": mfa_repo.passkeys_of(session, user.id),
            "recovery_left": mfa_repo.unused_recovery_codes(session, user.id),
        }
    if tab == "roles":
        return {
            "held": dir_repo.roles_held(session, user.id, user.agency_id),
            "all_roles": dir_repo.all_roles(session) if who.can("roles.manage") else [],
        }
    if tab == "sessions":
        return {"sessions": dir_repo.live_sessions(session, user_id=user.id, limit=50)}
    if tab == "apps":
        clients = {c.client_id: c for c in client_repo.list_all(session)}
        live = Counter(g.client_id for g in grant_repo.grants_of_user(session, user.id))
        return {
            "consents": consent_repo.of_user(session, user.id),
            "clients": clients,
            "live_grants": live,
        }
    if tab == "events":
        return {"events": audit_queries.about_user(session, user.id, limit=50)}
    return {"locked": _locked(request, session, user), "agencies": agencies_in_scope(session, who)}


def _detail(
    request: Request,
    session: Session,
    who: Staff,
    user: User,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    tab: str | None = None,
) -> Response:
    tab = tab or _choice(request.query_params.get("tab"), TABS, "details")
    return page(
        request,
        "admin/user.html",
        who,
        {
            "user": user,
            "values": values,
            "tab": tab,
            "tabs": TABS,
            "admin_roles": sorted(admin_roles_of(session, user)),
            **_tab_data(request, session, who, user, tab),
            "can_manage": who.can("users.manage"),
            "can_support": who.can("users.support"),
            "can_roles": who.can("roles.manage"),
            "wib": local_time,
            "error": error.message if error else None,
            "error_params": error.params if error else None,
        },
        status=error.status_code if error else 200,
    )


@router.get("/admin/users/{user_id}")
def show_user(request: Request, session: SessionDep, user_id: str) -> Response:
    who = staff(request, session, "users.view")
    user = target_user(session, user_id)
    check_person(session, who, user, "users.view")
    return _detail(request, session, who, user)


@router.post("/admin/users/{user_id}/roles/{action}")
def user_roles(
    request: Request, session: SessionDep, form: FormDep, user_id: str, action: str
) -> Response:
    """Give a role to the person (by name, from the datalist) or take one of theirs back;
    like on the role's own page, giving needs a login within the last 5 minutes."""
    if action not in ("grant", "revoke"):
        raise NotFound("admin.error.unknown_action")
    path = f"/admin/users/{user_id[:36]}"
    who = staff(
        request, session, "roles.manage", recent=action == "grant", next_path=path + "?tab=roles"
    )
    user = target_user(session, user_id)
    check_person(session, who, user, "roles.manage")
    try:
        if action == "grant":
            role = dir_repo.role_by_label(session, form.get("role")[:200])
            if role is None:
                raise NotFound("admin.role.unknown")
            role_service.grant(session, role, user.username, actor_id=who.user.id)
        else:
            raw = form.get("assignment_id")
            assignment = session.get(RoleAssignment, int(raw)) if raw.isdigit() else None
            if assignment is None or assignment.user_id != user.id:
                raise NotFound("admin.role.assignment_unknown")
            role_service.revoke(
                session,
                role_service.get(session, assignment.role_id),
                assignment.id,
                actor_id=who.user.id,
            )
        session.commit()
    except IntegrityError:
        session.rollback()
        return _detail(
            request,
            session,
            who,
            target_user(session, user_id),
            Conflict("admin.people.role_held"),
            tab="roles",
        )
    except DomainError as exc:
        session.rollback()
        return _detail(request, session, who, target_user(session, user_id), exc, tab="roles")
    return back(path, "granted" if action == "grant" else "revoked", tab="roles")


@router.post("/admin/users/{user_id}")
def edit_user(request: Request, session: SessionDep, form: FormDep, user_id: str) -> Response:
    path = f"/admin/users/{user_id[:36]}"
    who = staff(request, session, "users.manage", next_path=path)
    user = target_user(session, user_id)
    check_person(session, who, user, "users.edit")
    agency = form.get("agency_id")
    change = people.PersonEdit(
        version=int(form.get("version")) if form.get("version").isdigit() else -1,
        display_name=form.get("display_name"),
        email=form.get("email"),
        phone=form.get("phone"),
        position=form.get("position"),
        nip=form.get("nip"),
        agency_id=int(agency) if agency.isdigit() else None,
    )
    if user.kind == "staff":
        check_agency(session, who, change.agency_id, "users.edit")
    try:
        people.edit(session, user, change, actor_id=who.user.id)
        session.commit()
    except StaleDataError:
        session.rollback()
        user = target_user(session, user_id)
        return _detail(
            request, session, who, user, people.stale(user, change.version), form_values(form)
        )
    except DomainError as exc:
        session.rollback()
        user = target_user(session, user_id)
        return _detail(request, session, who, user, exc, form_values(form))
    return back(path, "saved")


def form_values(form: Any) -> dict[str, str]:
    return {
        k: form.get(k) for k in ("display_name", "email", "phone", "position", "nip", "agency_id")
    }
