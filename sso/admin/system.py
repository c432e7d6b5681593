"""``/admin/sessions`` (live login sessions; end the selected ones, which logs the people out
of the apps by back-channel logout too) and ``/admin/keys`` (signing keys; rotate and retire,
each with a fresh login). Every one of these first shows what will happen."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin import confirm, reauth
from sso.admin.access import FormDep, staff
from sso.admin.views import back, page
from sso.core.errors import DomainError, NotFound
from sso.core.user_agents import summarise
from sso.db.models import AuditEvent
from sso.oidc.backchannel import deliver_soon
from sso.oidc.logout import end_session
from sso.storage import admin_lists, impact
from sso.storage import directory as dir_repo
from sso.storage import keys as key_repo
from sso.storage import users as user_repo
from sso.web.account_ui import local_time
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()


@router.get("/admin/sessions")
def sessions_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "sessions.manage")
    qp = request.query_params
    text = admin_lists.clean(qp.get("user", "")[:254])
    user_id = None
    person = admin_lists.clean(qp.get("user_id", ""))[:36]
    if person:  # one person's sessions (a link from their page)
        found = user_repo.get(session, person)
        user_id = found.id if found else "-"
        text = found.username if found else ""
    elif "@" in text or text.replace(" ", "").isdigit():  # an email or a NIP: that one person
        from sso.accounts.identifiers import normalize_login

        found = user_repo.find_by_login(session, normalize_login(text))
        user_id = found.id if found else "-"
    number = _int(qp.get("page", "1"))
    found_page = admin_lists.live_sessions(
        session,
        username="" if user_id else text,
        user_id=user_id,
        number=number,
        size=SESSIONS_PER_PAGE,
    )
    apps = admin_lists.apps_of_sessions(session, [s.id for s, _ in found_page.rows])
    rows = [
        {
            "session": s,
            "user": u,
            "apps": apps.get(s.id, []),
            "device": summarise(s.user_agent),
            "started": local_time(s.created_at),
            "last_seen": local_time(s.last_seen_at),
        }
        for s, u in found_page.rows
    ]
    return page(
        request,
        "admin/sessions.html",
        who,
        {
            "rows": rows,
            "user": text,
            "own_session": who.login.login.id,
            "page": found_page,
            "query": {"user_id": person} if person else {"user": text} if text else {},
        },
    )


SESSIONS_PER_PAGE = 50


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 7 else 1


MAX_SELECTED = 100


def _selected(values: list[str]) -> list[str]:
    """Session ids chosen on the list (unique, at most ``MAX_SELECTED``)."""
    ids = [v[:36] for v in values for v in v.split(",") if v.strip()]
    return sorted(dict.fromkeys(i.strip() for i in ids))[:MAX_SELECTED]


@router.get("/admin/sessions/end/confirm")
def confirm_end(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "sessions.manage")
    ids = _selected(request.query_params.getlist("session_id"))
    if not ids:
        return back("/admin/sessions", error="admin.sessions.none_selected")
    locale = confirm.locale_of(request)
    live, people = impact.live_sessions_among(session, ids)
    own = who.login.login.id in ids
    c = confirm.Confirmation(
        title="admin.confirm.sessions.title",
        action="/admin/sessions/end",
        cancel="/admin/sessions",
        button="admin.confirm.sessions.button",
        fields={"sessions": ",".join(ids)},
        lines=[
            confirm.line(locale, "admin.confirm.sessions.count", n=live, people=people),
            confirm.line(locale, "admin.confirm.user.backchannel"),
        ],
        note="admin.confirm.sessions.own" if own else None,
    )
    return confirm.show(request, who, c)


@router.post("/admin/sessions/end")
def end_selected(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "sessions.manage", next_path="/admin/sessions")
    ids = _selected([form.get("sessions")])
    if not ids or not confirm.is_confirmed(
        request, who, form, "/admin/sessions/end", ("sessions",)
    ):
        # nothing happens without the confirmation page
        return confirm.ask("/admin/sessions/end/confirm", {"session_id": ",".join(ids)})
    deliveries: list[str] = []
    for session_id in ids:
        login = dir_repo.get_session(session, session_id)
        if login is not None and login.ended_at is None:
            deliveries.extend(end_session(session, login, client_id=None, reason="admin"))
    _stamp_actor(session, who.user.id)
    session.commit()
    deliver_soon(runtime_of(request), deliveries)
    return back("/admin/sessions", "sessions_ended")


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
    qp = request.query_params
    q = admin_lists.clean(qp.get("q", ""))
    state = qp.get("state", "")
    state = state if state in KEY_STATES else ""
    found = admin_lists.signing_keys(
        session, query=q, state=state or None, number=_int(qp.get("page", "1")), size=KEYS_PER_PAGE
    )
    query = {k: v for k, v in (("q", q), ("state", state)) if v}
    return page(
        request,
        "admin/keys.html",
        who,
        {
            "keys": found.rows,
            "page": found,
            "q": q,
            "state": state,
            "query": query,
            "states": KEY_STATES,
        },
    )


KEYS_PER_PAGE = 25
KEY_STATES = ("active", "next", "retired")


ALGS = ("all", "RS256", "ES256")


@router.get("/admin/keys/{action}/confirm")
def confirm_key_action(request: Request, session: SessionDep, action: str) -> Response:
    who = staff(request, session, "keys.manage")
    locale = confirm.locale_of(request)
    states = impact.keys_by_state(session)
    qp = request.query_params
    if action == "rotate":
        alg = qp.get("alg", "")
        if alg not in ALGS:
            return back("/admin/keys", error="admin.confirm.choose")
        fields = {"alg": alg}
        lines = [
            confirm.line(locale, "admin.confirm.keys.rotate_active", n=states.get("active", 0)),
            confirm.line(locale, "admin.confirm.keys.rotate_next", n=states.get("next", 0)),
            confirm.line(locale, "admin.confirm.keys.rotate_new"),
        ]
        title_params = {"alg": alg if alg != "all" else "RS256, ES256"}
    elif action == "retire":
        kid = qp.get("kid", "")[:64]
        key = next((k for k in key_repo.list_all(session) if k.kid == kid), None)
        if key is None:
            raise NotFound("admin.error.unknown_action")
        if key.state == "active":
            found = admin_lists.signing_keys(session, size=KEYS_PER_PAGE)
            return page(
                request,
                "admin/keys.html",
                who,
                {
                    "keys": found.rows,
                    "page": found,
                    "q": "",
                    "state": "",
                    "query": {},
                    "states": KEY_STATES,
                    "error": "admin.keys.retire_active",
                },
                status=409,
            )
        fields = {"kid": kid}
        lines = [
            confirm.line(locale, f"admin.confirm.keys.retire_{key.state}", kid=kid),
            confirm.line(
                locale,
                "admin.confirm.keys.published",
                n=states.get("active", 0) + states.get("next", 0) - 1,
            ),
        ]
        title_params = {"kid": kid}
    else:
        raise NotFound("admin.error.unknown_action")
    c = confirm.Confirmation(
        title=f"admin.confirm.keys.{action}.title",
        title_params=title_params,
        action=f"/admin/keys/{action}",
        cancel="/admin/keys",
        button=f"admin.confirm.keys.{action}.button",
        fields=fields,
        lines=lines,
        note="admin.confirm.fresh_login",
    )
    return confirm.show(request, who, c, reauth.kept_values(request, who))


@router.post("/admin/keys/{action}")
def key_action(request: Request, session: SessionDep, form: FormDep, action: str) -> Response:
    who = staff(request, session, "keys.manage", next_path="/admin/keys")
    if action not in ("rotate", "retire"):
        raise NotFound("admin.error.unknown_action")
    name = "alg" if action == "rotate" else "kid"
    again = confirm.ask(f"/admin/keys/{action}/confirm", {name: form.get(name)})
    if not confirm.is_confirmed(request, who, form, f"/admin/keys/{action}", (name,)):
        return again  # nothing happens without the confirmation page
    fresh = reauth.recent_staff(
        request, session, "keys.manage", form, back_to=again.headers["location"]
    )
    if isinstance(fresh, Response):
        return fresh
    who = fresh
    keys = runtime_of(request).keys
    try:
        if action == "rotate":
            alg = form.get("alg")
            keys.rotate(session, None if alg == "all" else alg)
            done = "rotated"
        else:
            keys.retire(session, form.get("kid")[:64])
            done = "retired"
        _stamp_actor(session, who.user.id)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back("/admin/keys", error=exc.message)
    keys.cache.invalidate()
    return reauth.forget(request, back("/admin/keys", done))
