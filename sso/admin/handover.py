"""``/admin/secret``: a secret shown once (a rotated client secret, a new registration token).

The action that makes the secret ends in a redirect here (every POST does), so the secret is
kept for the page in an encrypted cookie keyed to the admin (:mod:`sso.web.handover`, shared
with the developer portal), never in a URL and never in a log. The page survives a reload and
a language switch; it is gone when the admin confirms "I have copied it", or after 10 minutes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sso.admin.access import FormDep, Staff, staff
from sso.admin.views import back, page
from sso.web import handover as shared
from sso.web.deps import SessionDep

router = APIRouter()
COOKIE = "sso_admin_secret"
LIFETIME = shared.LIFETIME
PATH = "/admin/secret"


def hand_over(
    request: Request, who: Staff, *, kind: str, name: str, secret: str, back_to: str
) -> Response:
    """303 to the page showing ``secret`` once. ``kind``: ``client``, ``token`` or ``webhook``."""
    return shared.hand_over(
        request,
        cookie=COOKIE,
        user_id=who.user.id,
        page=PATH,
        payload={"kind": kind, "name": name, "secret": secret, "back": back_to},
    )


@router.get(PATH)
def secret_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "dashboard.view")
    kept = shared.kept(request, cookie=COOKIE, user_id=who.user.id)
    kind = kept.get("kind") if kept.get("kind") in ("client", "token", "webhook") else None
    return shared.no_store(
        page(
            request,
            "admin/secret.html",
            who,
            {
                "kind": kind,
                "name": kept.get("name", ""),
                "secret": kept.get("secret", "") if kind else "",
                "minutes": LIFETIME // 60,
            },
        )
    )


@router.post(PATH)
def secret_copied(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "dashboard.view", next_path=PATH)
    kept = shared.kept(request, cookie=COOKIE, user_id=who.user.id)
    target = str(kept.get("back") or "/admin")
    if not target.startswith("/admin"):
        target = "/admin"
    return shared.forget(request, back(target, "secret_gone"), cookie=COOKIE)
