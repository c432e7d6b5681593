"""``/admin/secret``: a secret shown once (a rotated client secret, a new registration token).

The action that makes the secret ends in a redirect here (every POST does), so the secret is
kept for the page in an encrypted cookie keyed to the admin (:mod:`sso.admin.sealed`), never
in a URL and never in a log. The page survives a reload and a language switch; it is gone when
the admin confirms "I have copied it", or after 10 minutes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sso.admin import sealed
from sso.admin.access import FormDep, Staff, staff
from sso.admin.views import back, page
from sso.web.deps import SessionDep

router = APIRouter()
COOKIE = "sso_admin_secret"
LIFETIME = 10 * 60
PATH = "/admin/secret"


def hand_over(request: Request, who: Staff, *, kind: str, name: str, secret: str,
              back_to: str) -> Response:
    """303 to the page showing ``secret`` once. ``kind``: ``client`` or ``token``."""
    response = RedirectResponse(PATH, status_code=303)
    sealed.put(request, response, COOKIE, who.user.id,
               {"kind": kind, "name": name, "secret": secret, "back": back_to}, LIFETIME)
    return response


@router.get(PATH)
def secret_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "dashboard.view")
    kept = sealed.get(request, COOKIE, who.user.id) or {}
    kind = kept.get("kind") if kept.get("kind") in ("client", "token") else None
    response = page(request, "admin/secret.html", who, {
        "kind": kind, "name": kept.get("name", ""), "secret": kept.get("secret", "") if kind else "",
        "minutes": LIFETIME // 60,
    })
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(PATH)
def secret_copied(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "dashboard.view", next_path=PATH)
    kept = sealed.get(request, COOKIE, who.user.id) or {}
    target = str(kept.get("back") or "/admin")
    if not target.startswith("/admin"):
        target = "/admin"
    response = back(target, "secret_gone")
    sealed.drop(request, response, COOKIE)
    return response
