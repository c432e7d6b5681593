"""Pages: templates (the app's own, then the toolkit's ``base.html`` and ``error.html``), CSRF
tokens for every form, and error handlers that always answer with a readable page (or JSON
under ``/api/``), never a traceback. Pages need no JavaScript."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from tangsel_rp.i18n import Catalogue, negotiate
from tangsel_rp.settings import RPSettings

log = logging.getLogger("tangsel_rp.web")
TEMPLATES = Path(__file__).resolve().parent / "templates"
# The stylesheet shared by every demo app (templates/base.html links it).
STATIC = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/_rp/static"


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageError(Exception):
    """A refusal shown as a page: a catalogue key and an HTTP status."""

    def __init__(self, key: str, status: int = 400, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.values = values


@dataclass(frozen=True)
class NavItem:
    path: str
    key: str
    role: str | None = None  # shown only to people holding this role
    login: bool = False  # shown only to people who are logged in


def safe_next(url: str | None) -> str:
    """Only a local path is a place to go after login (no open redirect)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def csrf_token(request: Request) -> str:
    if "session" not in request.scope:  # an error page rendered outside the session middleware
        return ""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


async def require_csrf(request: Request) -> None:
    """FastAPI dependency for form posts: the form's ``csrf_token`` matches the session's."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise PageError("error.csrf", 403)


class Web:
    def __init__(
        self,
        settings: RPSettings,
        catalogue: Catalogue,
        *,
        app_name_key: str,
        template_dir: Path,
        nav: Sequence[NavItem] = (),
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.app_name_key = app_name_key
        self.nav = list(nav)
        env = Environment(
            loader=ChoiceLoader([FileSystemLoader(template_dir), FileSystemLoader(TEMPLATES)]),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.templates = Jinja2Templates(env=env)
        # No script at all, and no inline style (the one stylesheet is ours: STATIC_PATH);
        # forms go to us, and the logout form on to the provider (browsers apply form-action
        # to the redirect that follows a form post).
        provider = urlsplit(settings.oidc_issuer)
        self.csp = (
            "default-src 'none'; style-src 'self'; img-src 'self'; "
            f"form-action 'self' {provider.scheme}://{provider.netloc}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )

    def locale(self, request: Request) -> str:
        return negotiate(request, self.settings.default_locale)

    def gettext(self, request: Request, key: str, **values: object) -> str:
        return self.catalogue.gettext(self.locale(request), key, **values)

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        locale = self.locale(request)
        user = getattr(request.state, "user", None)

        def _(key: str, **values: object) -> str:
            return self.catalogue.gettext(locale, key, **values)

        nav = [
            item
            for item in self.nav
            if (not item.login or user is not None)
            and (item.role is None or (user is not None and user.has_role(item.role)))
        ]
        ctx: dict[str, Any] = {
            "_": _,
            "lang": locale,
            "user": user,
            # A callable: only pages that show a form make a session (and so a row) for it.
            "csrf_token": lambda: csrf_token(request),
            "app_name": _(self.app_name_key),
            "nav": nav,
            "here": request.url.path,
            "here_with_query": quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                safe="/",
            ),
        }
        ctx.update(context or {})
        response = self.templates.TemplateResponse(
            request, name, ctx, status_code=status_code, headers=headers
        )
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", self.csp)
        return response

    def error(
        self,
        request: Request,
        key: str,
        status: int,
        *,
        code: str | None = None,
        retry_login: bool = False,
        values: dict[str, object] | None = None,
    ) -> HTMLResponse:
        return self.render(
            request,
            "error.html",
            {"message_key": key, "values": values or {}, "code": code, "retry_login": retry_login},
            status_code=status,
        )

    def install(self, app: FastAPI) -> None:
        """Error pages for everything that can go wrong in a request."""

        def wants_json(request: Request) -> bool:
            return request.url.path.startswith("/api/")

        @app.exception_handler(LoginRequired)
        async def _login(request: Request, exc: LoginRequired) -> Response:
            return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", 303)

        @app.exception_handler(PageError)
        async def _page(request: Request, exc: PageError) -> Response:
            if wants_json(request):
                return JSONResponse({"error": exc.key.split(".")[-1]}, status_code=exc.status)
            return self.error(request, exc.key, exc.status, values=exc.values)

        @app.exception_handler(StarletteHTTPException)
        async def _http(request: Request, exc: StarletteHTTPException) -> Response:
            key = {404: "error.not_found", 403: "error.forbidden", 405: "error.bad_request"}.get(
                exc.status_code, "error.bad_request"
            )
            if wants_json(request):
                return JSONResponse(
                    {"error": key.split(".")[-1], "error_description": str(exc.detail)},
                    status_code=exc.status_code,
                    headers=getattr(exc, "headers", None),
                )
            return self.error(request, key, exc.status_code)

        @app.exception_handler(RequestValidationError)
        async def _invalid(request: Request, exc: RequestValidationError) -> Response:
            if wants_json(request):
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "Invalid parameters."},
                    status_code=400,
                )
            return self.error(request, "error.bad_request", 400)

        @app.exception_handler(Exception)
        async def _crash(request: Request, exc: Exception) -> Response:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            if wants_json(request):
                return JSONResponse({"error": "server_error"}, status_code=500)
            return self.error(request, "error.internal", 500)
