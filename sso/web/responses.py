"""Authorization responses (query redirect or form_post) and the provider's cookies.

Cookie names depend on the deployment: over https they carry the ``__Host-`` prefix (and are
``Secure``, ``Path=/``, without ``Domain``), see :func:`sso.web.security.cookie_name`. Read them
with :func:`session_cookie` / :func:`browser_cookie`, never by a fixed name.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.requests import HTTPConnection

from sso.config import Settings
from sso.oidc.answer import AuthorizationResponse
from sso.oidc.interaction import BROWSER_COOKIE
from sso.web.security import cookie_name, read_cookie
from sso.web.templating import render

SESSION_COOKIE = "sso_session"  # the base name: see session_cookie_name()


def session_cookie_name(settings: Settings) -> str:
    return cookie_name(settings, SESSION_COOKIE)


def browser_cookie_name(settings: Settings) -> str:
    return cookie_name(settings, BROWSER_COOKIE)


def session_cookie(request: HTTPConnection) -> str | None:
    """The login session cookie's value, under this deployment's name."""
    return read_cookie(request, SESSION_COOKIE)


def browser_cookie(request: HTTPConnection) -> str | None:
    """The browser-binding cookie's value (ties a parked interaction to this browser)."""
    return read_cookie(request, BROWSER_COOKIE)


def authorization_response(request: Request, result: AuthorizationResponse) -> Response:
    if result.response_mode == "form_post":
        return render(
            request,
            "form_post.html",
            {"redirect_uri": result.redirect_uri, "params": result.params},
            form_action=[_origin(result.redirect_uri)],
        )
    parts = urlsplit(result.redirect_uri)
    query = "&".join(q for q in (parts.query, urlencode(result.params)) if q)
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    # 303 so a browser that arrived by POST follows with GET (RFC 9700 §4.12).
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


def set_session_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        value,
        max_age=settings.session_absolute_lifetime,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def set_browser_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        browser_cookie_name(settings),
        value,
        max_age=365 * 24 * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
