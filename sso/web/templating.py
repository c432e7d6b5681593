"""Server-rendered pages: one Jinja2 environment and :func:`render`.

Every page gets, besides its own context: ``_`` (translate in the page's locale), ``locale``,
``other_locale``, ``lang_switch_url`` (this URL with ``lang=`` the other language),
``csp_nonce`` (fresh per response, the only way an inline script runs), ``request_id`` and
``static_url``. Responses carry ``Cache-Control: no-store`` (pages hold CSRF tokens and
personal data) and :func:`sso.web.security.security_headers`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from functools import cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from sso.core.events import request_context
from sso.web.i18n import LANG_COOKIE, LANG_PARAM, match_locale, negotiate_locale, other_locale
from sso.web.i18n import translate as _translate
from sso.web.security import (
    apply_csrf_cookie,
    cookie_name,
    read_cookie,
    security_headers,
    settings_of,
)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
# The admin UI and the developer portal keep their templates next to their routes
# (``sso/admin/templates/admin/*.html`` → ``render(request, "admin/users.html")``).
TEMPLATE_DIRS = [
    TEMPLATES_DIR,
    WEB_DIR.parent / "admin" / "templates",
    WEB_DIR.parent / "developers" / "templates",
]
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/static/"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

env = Environment(
    loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@cache
def static_url(name: str) -> str:
    """``/static/<name>?v=<content hash>`` so a new release is never served a stale file."""
    path = STATIC_DIR / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except OSError:
        return STATIC_PREFIX + name
    return f"{STATIC_PREFIX}{name}?v={digest}"


env.globals["static_url"] = static_url


def default_locale(request: Request) -> str:
    runtime = getattr(request.app.state, "runtime", None)
    return str(getattr(getattr(runtime, "settings", None), "default_locale", "id"))


def lang_switch_url(request: Request, locale: str) -> str:
    """This page's path and query with ``lang`` set to the other language (relative URL)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != LANG_PARAM]
    query.append((LANG_PARAM, other_locale(locale)))
    return f"{request.url.path}?{urlencode(query)}"


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    locale: str | None = None,
    headers: Mapping[str, str] | None = None,
    form_action: Iterable[str] = (),
) -> HTMLResponse:
    """Render template ``name`` as a complete, uncacheable, unframable page.

    ``locale`` overrides negotiation (pass ``negotiate_locale(request, ui_locales)`` for an
    authorization request); ``form_action`` adds CSP sources (a native app's scheme).
    """
    locale = locale or negotiate_locale(request, default=default_locale(request))
    nonce = secrets.token_urlsafe(16)
    values: dict[str, Any] = {"request_id": request_context.get().request_id}
    values.update(context or {})
    values.update(
        request=request,
        locale=locale,
        other_locale=other_locale(locale),
        lang_switch_url=lang_switch_url(request, locale),
        csp_nonce=nonce,
        _=partial(_translate, locale),
    )
    html = env.get_template(name).render(values)
    response = HTMLResponse(html, status_code=status)
    response.headers.update(security_headers(nonce, form_action=form_action))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = locale
    if headers:
        response.headers.update(headers)
    apply_csrf_cookie(request, response)
    _remember_language(request, response)
    return response


def _remember_language(request: Request, response: HTMLResponse) -> None:
    """A ``?lang=`` click is kept in a cookie so the next pages of the flow follow it."""
    chosen = match_locale(request.query_params.get(LANG_PARAM))
    if chosen and chosen != read_cookie(request, LANG_COOKIE):
        settings = settings_of(request)
        secure = settings is not None and settings.cookie_secure
        response.set_cookie(
            cookie_name(settings, LANG_COOKIE),
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
