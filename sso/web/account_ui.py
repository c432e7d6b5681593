"""Shared pieces of the account console's routes (``sso.web.routes.account*``): the page frame
(navigation, the console's section menu, a one-line "done" notice after a redirect), form
reading with the CSRF check, the check of a current password under the login's guessing
limits, and the function that ends a session with its back-channel logouts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from sso.accounts.connections import EndSession
from sso.core import events
from sso.db.models import LoginSession, User
from sso.oidc.logout import end_session
from sso.web import navigation, security
from sso.web.app_runtime import AppRuntime
from sso.web.console import CurrentLogin
from sso.web.templating import render

MAX_FIELD = 1024
# Tangerang Selatan keeps Western Indonesian Time all year (no daylight saving).
WIB = timezone(timedelta(hours=7), "WIB")

# (section, path, catalogue key) of the console's menu, in order.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("profile", "/account", "account.menu.profile"),
    ("password", "/account/password", "account.menu.password"),
    ("security", "/account/security", "account.menu.security"),
    ("identities", "/account/identities", "account.menu.identities"),
    ("sessions", "/account/sessions", "account.menu.sessions"),
    ("apps", "/account/apps", "account.menu.apps"),
    ("data", "/account/data", "account.menu.data"),
)
# ?done=<word> after a redirect → the notice shown (anything else shows nothing).
DONE = {
    "profile": "account.done.profile",
    "nik": "account.done.nik",
    "nik_removed": "account.done.nik_removed",
    "password": "account.done.password",
    "ended": "account.done.session_ended",
    "others": "account.done.others_ended",
    "revoked": "account.done.app_revoked",
    "linked": "account.done.linked",
    "unlinked": "account.done.unlinked",
}


def local_time(value: datetime) -> str:
    """``27-11-2026 05:43 WIB``: how a person in the city reads a time."""
    return value.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB")


def page(
    request: Request,
    db: Session,
    who: CurrentLogin,
    name: str,
    section: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render a console page (``account/<name>``) with its navigation and menu."""
    values = frame(request, db, who.user, section)
    values.update(context or {})
    return render(request, f"account/{name}", values, status=status, headers=headers)


def frame(request: Request, db: Session, user: User, section: str) -> dict[str, Any]:
    """The context of ``account/layout.html``: the header, the section menu with ``section``
    marked, the notice of ``?done=`` (pages with notices of their own replace ``done``)."""
    return {
        "nav": navigation.for_person(
            request, db, user, current="security" if section == "security" else "account"
        ),
        "sections": SECTIONS,
        "section": section,
        "user": user,
        "csrf_token": security.csrf.token_for(request),
        "done": DONE.get(request.query_params.get("done") or ""),
        "error": None,
        "error_params": {},
        "local_time": local_time,
    }


def done(path: str, what: str, **query: str) -> Response:
    """Post/redirect/get: back to ``path`` with a notice of what was done."""
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    response = RedirectResponse(f"{path}?done={what}{extra}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def read_form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    security.csrf.verify(request, form)
    return {name: str(form.get(name) or "")[:MAX_FIELD] for name in names}


def ender(reason: str) -> EndSession:
    """End one login session the way a logout does (grants revoked, relying parties told)."""

    def end(db: Session, login: LoginSession) -> list[str]:
        return end_session(db, login, client_id=None, reason=reason)

    return end


@dataclass(frozen=True)
class PasswordVerdict:
    ok: bool
    retry_after: int = 0  # > 0: too many wrong passwords, try again after this many seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def verify_current_password(
    runtime: AppRuntime, user_id: str, password_hash: str, password: str
) -> PasswordVerdict:
    """Check a current password outside any transaction, counted like a login attempt of the
    same account (a stolen session cannot guess the password any faster than the login form)."""
    guard = runtime.throttle
    attempt = guard.reserve_login(f"user:{user_id}", events.current_context().ip)
    if not attempt.verdict.allowed:
        return PasswordVerdict(False, attempt.verdict.retry_after)
    ok, _ = runtime.password_hasher.verify(password, password_hash)
    if ok:
        guard.login_succeeded(attempt)
    else:
        guard.login_failed(attempt)
    return PasswordVerdict(ok)
