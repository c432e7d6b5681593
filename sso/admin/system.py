"""``/admin/sessions`` (live login sessions; end one, which logs the person out of the apps
by back-channel logout too) and ``/admin/keys`` (signing keys; rotate and retire, each with a
fresh login)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin.access import FormDep, runtime_of, staff
from sso.admin.views import back, page
from sso.core.errors import DomainError, NotFound
from sso.db.models import AuditEvent
from sso.oidc.keys import key_service
from sso.oidc.logout import deliver_soon, end_session
from sso.storage import directory as dir_repo
from sso.storage import keys as key_repo
from sso.storage import users as user_repo
from sso.web.deps import SessionDep

router = APIRouter()


@router.get("/admin/sessions")
def sessions_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "sessions.manage")
    username = request.query_params.get("user", "")[:254].strip()
    user_id = None
    if username:
        from sso.accounts.identifiers import normalize_login

        found = user_repo.find_by_login(session, normalize_login(username))
        user_id = found.id if found else "-"
    rows = dir_repo.live_sessions(session, user_id=user_id, limit=100)
    return page(request, "admin/sessions.html", who, {"rows": rows, "user": username})


@router.post("/admin/sessions/{session_id}/end")
def end_one(request: Request, session: SessionDep, form: FormDep, session_id: str) -> Response:
    who = staff(request, session, "sessions.manage", next_path="/admin/sessions")
    login = dir_repo.get_session(session, session_id[:36])
    if login is None:
        raise NotFound("admin.error.session_unknown")
    deliveries = end_session(session, login, client_id=None, reason="admin")
    _stamp_actor(session, who.user.id)
    session.commit()
    deliver_soon(runtime_of(request), deliveries)
    return back("/admin/sessions", "session_ended")


def _stamp_actor(session: Session, actor_id: str) -> None:
    """Events written by services that do not know who asked get the admin as actor (they are
    still pending, not yet written, so the append-only rule is not touched)."""
    for obj in list(session.new):
        if isinstance(obj, AuditEvent):
            obj.details = {**(obj.details or {}), "by": actor_id}
            if obj.event.startswith(("key.", "session.", "user.logout", "grant.")):
                obj.actor_id = actor_id


@router.get("/admin/keys")
def keys_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "keys.manage")
    return page(request, "admin/keys.html", who, {"keys": key_repo.list_all(session)})


@router.post("/admin/keys/{action}")
def key_action(request: Request, session: SessionDep, form: FormDep, action: str) -> Response:
    who = staff(request, session, "keys.manage", recent=True, next_path="/admin/keys")
    keys = key_service(runtime_of(request))
    try:
        if action == "rotate":
            keys.rotate(session, form.get("alg") or None)
            done = "rotated"
        elif action == "retire":
            keys.retire(session, form.get("kid")[:64])
            done = "retired"
        else:
            raise DomainError("admin.error.unknown_action")
        _stamp_actor(session, who.user.id)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return page(request, "admin/keys.html", who, {
            "keys": key_repo.list_all(session), "error": exc.message, "error_params": exc.params,
        }, status=exc.status_code)
    keys.cache.invalidate()
    return back("/admin/keys", done)
