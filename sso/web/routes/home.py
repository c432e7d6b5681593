"""The provider's front page and its icon.

``/`` says what the service is and leads on: Masuk (sign in: the account console, which sends
the browser through the ordinary login), Daftar (register), Akun saya and Portal pengembang.
A signed-in person sees their name in the header and "Akun saya" instead of Masuk/Daftar.
``/favicon.ico`` answers the browsers and tools that ask for it without reading the page's
``<link rel=icon>`` (which points at the SVG).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from sso.web import navigation
from sso.web.console import current_login
from sso.web.deps import runtime_of
from sso.web.templating import STATIC_DIR, render

router = APIRouter(include_in_schema=False)

ICON_MAX_AGE = 7 * 24 * 3600


@router.get("/")
def home(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        found = current_login(request, db)
        nav = navigation.for_person(request, db, found.user) if found else None
        db.commit()
    return render(
        request,
        "home.html",
        {
            "issuer": runtime.settings.issuer_url,
            "nav": nav,
            "discovery_url": runtime.settings.issuer_url + "/.well-known/openid-configuration",
        },
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": f"public, max-age={ICON_MAX_AGE}"},
    )
