"""The actions on one person from their admin page (``POST /admin/users/{id}/{action}``):
disable / enable, unlock, send a reset link, reset the second factor, end the sessions. The
destructive ones first show what will happen (``GET …/{action}/confirm``, with counts), and
disabling an admin asks for a fresh login; the same rules as the rest of the console
(:func:`sso.admin.access.check_person`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from sso.admin import confirm, reauth
from sso.admin.access import ADMIN, FormDep, admin_roles_of, check_person, staff
from sso.admin.services import people
from sso.admin.users import target_user
from sso.admin.views import back
from sso.core.errors import DomainError, NotFound
from sso.db.models import User
from sso.oidc.backchannel import deliver_soon
from sso.storage import impact
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()

ACTIONS = {
    "disable": "users.manage",
    "enable": "users.manage",
    "end-sessions": "users.manage",
    "unlock": "users.support",
    "reset-link": "users.support",
    "reset-mfa": "users.support",
}
# Destructive: each first shows its confirmation page (GET …/{action}/confirm).
CONFIRMED = frozenset({"disable", "end-sessions", "reset-mfa"})


def _confirmation(
    request: Request, session: Session, user: User, action: str, sensitive: bool
) -> confirm.Confirmation:
    locale = confirm.locale_of(request)
    path = f"/admin/users/{user.id}"
    name = user.display_name or user.username
    live = impact.live_sessions_of_user(session, user.id)
    c = confirm.Confirmation(
        title=f"admin.confirm.user.{action}.title",
        title_params={"name": name},
        action=f"{path}/{action}",
        cancel=path,
        button=f"admin.confirm.user.{action}.button",
        note="admin.confirm.fresh_login" if sensitive else None,
    )
    if action == "disable":
        grants, apps = impact.live_grants_of_user(session, user.id)
        c.lines = [
            confirm.line(locale, "admin.confirm.user.no_login", name=name),
            confirm.line(locale, "admin.confirm.sessions_end", n=live),
            confirm.line(locale, "admin.confirm.grants_revoked", n=grants, apps=apps),
        ]
    elif action == "end-sessions":
        c.lines = [
            confirm.line(locale, "admin.confirm.sessions_end", n=live),
            confirm.line(locale, "admin.confirm.user.backchannel"),
        ]
    else:
        factors = impact.second_factors(session, user.id)
        c.lines = [
            confirm.line(
                locale,
                "admin.confirm.user.factors",
                totp=factors["totp"],
                passkeys=factors["passkeys"],
                codes=factors["codes"],
            ),
            confirm.line(locale, "admin.confirm.user.enrol_again", name=name),
        ]
    return c


def _sensitive(session: Session, user: User, action: str) -> bool:
    # Disabling an admin is sensitive: a login within the last 5 minutes.
    return action == "disable" and ADMIN in admin_roles_of(session, user)


@router.get("/admin/users/{user_id}/{action}/confirm")
def confirm_user_action(
    request: Request, session: SessionDep, user_id: str, action: str
) -> Response:
    if action not in CONFIRMED:
        raise NotFound("admin.error.unknown_action")
    permission = ACTIONS[action]
    who = staff(request, session, permission)
    user = target_user(session, user_id)
    check_person(session, who, user, permission)
    c = _confirmation(request, session, user, action, _sensitive(session, user, action))
    return confirm.show(request, who, c, reauth.kept_values(request, who))


@router.post("/admin/users/{user_id}/{action}")
def user_action(
    request: Request, session: SessionDep, form: FormDep, user_id: str, action: str
) -> Response:
    if action not in ACTIONS:
        raise NotFound("admin.error.unknown_action")
    path = f"/admin/users/{user_id[:36]}"
    confirm_path = f"{path}/{action}/confirm"
    permission = ACTIONS[action]
    who = staff(request, session, permission, next_path=path)
    user = target_user(session, user_id)
    check_person(session, who, user, permission)
    if action in CONFIRMED and not confirm.is_confirmed(request, who, form, f"{path}/{action}", ()):
        return confirm.ask(confirm_path)  # nothing happens without the confirmation page
    if _sensitive(session, user, action):
        fresh = reauth.recent_staff(request, session, permission, form, back_to=confirm_path)
        if isinstance(fresh, Response):
            return fresh
        who = fresh
        user = target_user(session, user_id)
    runtime = runtime_of(request)
    mails: list[Any] = []
    deliveries: list[str] = []
    actor = who.user.id
    try:
        if action in ("disable", "enable"):
            people.set_disabled(session, user, action == "disable", actor_id=actor)
        elif action == "unlock":
            throttle = runtime.throttle
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
        return back(path, error=exc.message)
    deliver_soon(runtime, deliveries)
    done = {
        "disable": "disabled",
        "enable": "enabled",
        "unlock": "unlocked",
        "reset-link": "reset_sent",
        "reset-mfa": "mfa_reset",
        "end-sessions": "sessions_ended",
    }[action]
    response = reauth.forget(request, back(path, done))
    if mails:
        response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response
