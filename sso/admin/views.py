"""Rendering admin pages: the shared layout's menu (only what the person may use), the CSRF
token, flash messages carried in the redirect's query (``?done=key``), and cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from sso.admin.access import Staff
from sso.web import navigation
from sso.web.i18n import DEFAULT_LOCALE, catalogue
from sso.web.security import csrf
from sso.web.templating import render

MENU = (
    ("/admin", "admin.nav.dashboard", "dashboard.view"),
    ("/admin/users", "admin.nav.users", "users.view"),
    ("/admin/imports", "admin.nav.imports", "users.import"),
    ("/admin/agencies", "admin.nav.agencies", "agencies.view"),
    ("/admin/roles", "admin.nav.roles", "roles.manage"),
    ("/admin/clients", "admin.nav.clients", "clients.manage"),
    ("/admin/upstreams", "upstr.admin.nav", "clients.manage"),
    ("/admin/sessions", "admin.nav.sessions", "sessions.manage"),
    ("/admin/keys", "admin.nav.keys", "keys.manage"),
    ("/admin/registration-tokens", "admin.nav.tokens", "clients.manage"),
    ("/admin/audit", "admin.nav.audit", "audit.view"),
    ("/admin/webhooks", "webhooks.nav", "webhooks.manage"),
)
DONE_KEYS = frozenset(
    {
        "saved",
        "created",
        "disabled",
        "enabled",
        "unlocked",
        "reset_sent",
        "mfa_reset",
        "sessions_ended",
        "session_ended",
        "approved",
        "rejected",
        "rotated",
        "retired",
        "moved",
        "merged",
        "renamed",
        "granted",
        "revoked",
        "applied",
        "deleted",
        "secret_gone",
        "issued",
        "paused",
        "resumed",
        "sent_again",
    }
)


# Messages of lower layers that the main catalogue does not (yet) translate: shown through
# admin keys of our own (a key may live in only one catalogue file).
ALIASES = {
    f"error.{k}": f"admin.err.{k}"
    for k in (
        "agency_unknown",
        "client_unknown",
        "grant_type_invalid",
        "nip_taken",
        "redirect_uri_required",
        "redirect_uri_invalid",
        "scope_invalid",
        "client_has_no_secret",
        "kind_invalid",
        "auth_method_invalid",
    )
}


def page(
    request: Request,
    name: str,
    who: Staff,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    path = request.url.path
    badges = menu_badges(request, who)
    menu = [
        {
            "href": href,
            "label": label,
            "badge": badges.get(href, 0),
            "current": path == href or (href != "/admin" and path.startswith(href + "/")),
        }
        for href, label, permission in MENU
        if who.can(permission)
    ]
    done = request.query_params.get("done")
    values: dict[str, Any] = {
        "nav": navigation.for_roles(request, who.user, who.roles, current="admin"),
        "menu": menu,
        "who": who,
        "csrf_token": csrf.token_for(request),
        "done": f"admin.done.{done}" if done in DONE_KEYS else None,
        "error": error_of_query(request),
    }
    values.update(context or {})
    if values.get("error") in ALIASES:
        values["error"] = ALIASES[values["error"]]
    return render(request, name, values, status=status)


def error_of_query(request: Request) -> str | None:
    """An action refused after its POST is told on the page the redirect leads to; only a
    message of ours can be named there (no arbitrary text on the page)."""
    key = request.query_params.get("error")
    if key and key.startswith(("admin.", "error.")) and key in catalogue(DEFAULT_LOCALE):
        return key
    return None


def back(
    path: str, done: str | None = None, *, error: str | None = None, **query: str
) -> RedirectResponse:
    """303 to ``path`` after a POST (the page shows ``done``'s message, or ``error``'s)."""
    params = {k: v for k, v in query.items() if v}
    if done:
        params["done"] = done
    if error:
        params["error"] = ALIASES.get(error, error)
    target = path + ("?" + urlencode(params) if params else "")
    return RedirectResponse(target, status_code=303)


def encode_cursor(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Any:
    if not text or len(text) > 1000:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None


def menu_badges(request: Request, who: Staff) -> dict[str, int]:
    """Counts shown beside menu entries: app registrations waiting for an admin's review.
    Read with the request's own session (the one the admin's row came from)."""
    # Imported here: the imports above are where parallel changes land.
    from sqlalchemy.orm import Session

    from sso.storage import admin_figures
    from sso.web.deps import runtime_of

    if not who.can("clients.manage"):
        return {}
    session = Session.object_session(who.user)
    if session is None:
        with runtime_of(request).sessions() as own:
            pending = admin_figures.pending_clients(own)
    else:
        pending = admin_figures.pending_clients(session)
    return {"/admin/clients": pending} if pending else {}
