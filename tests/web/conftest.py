"""A tiny app with the web layer's pieces (no database, no sso.app): middleware, error
handlers, static files and routes that render every template."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.responses import Response
from starlette.testclient import TestClient

from sso.config import Settings
from sso.core.errors import NotFound, ServiceUnavailable
from sso.core.events import request_context
from sso.web.errors import install_error_handlers
from sso.web.middleware import RequestContextMiddleware
from sso.web.security import csrf
from sso.web.templating import STATIC_DIR, render

BODY_LIMIT = 4096


def make_web_settings(**overrides: object) -> Settings:
    values: dict[str, Any] = {  # any field's type: pydantic validates them
        "env": "test",
        "issuer": "http://testserver",
        "secret_key": "x" * 40,
        "key_encryption_key": Fernet.generate_key().decode(),
    }
    values.update(overrides)
    return Settings(**values).finalize()


def build_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(settings=settings)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_size=BODY_LIMIT)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def login_context(request: Request, error: str | None = None) -> dict[str, object]:
        return {
            "client_name": "Portal Data",
            "action": "/login",
            "csrf_token": csrf.token_for(request),
            "username": request.query_params.get("login_hint", ""),
            "error": error,
        }

    @app.get("/login")
    def login_page(request: Request) -> Response:
        return render(request, "login.html", login_context(request))

    @app.post("/login")
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        csrf.verify(request, form)
        return render(
            request, "login.html", login_context(request, "login.invalid_credentials"), status=401
        )

    @app.get("/consent")
    def consent_page(request: Request) -> Response:
        context = {
            "client_name": "Portal Data",
            "scopes": ["openid", "profile", "opd", "custom:thing"],
            "action": "/consent",
            "csrf_token": csrf.token_for(request),
        }
        return render(request, "consent.html", context)

    @app.get("/logout")
    def logout_page(request: Request) -> Response:
        context = {
            "action": "/logout",
            "csrf_token": csrf.token_for(request),
            "hidden": {"state": "st-1", "post_logout_redirect_uri": "https://rp.example/bye"},
            "client_name": "Portal Data",
        }
        return render(request, "logout_confirm.html", context)

    @app.get("/logged-out")
    def logged_out_page(request: Request) -> Response:
        return render(request, "logged_out.html", {"redirect_uri": "https://rp.example/bye"})

    @app.get("/form-post")
    def form_post_page(request: Request) -> Response:
        params = {"code": "tsso_ac_x", "state": "s<1>", "iss": "http://testserver"}
        return render(
            request, "form_post.html", {"redirect_uri": "https://rp.example/cb", "params": params}
        )

    @app.get("/context")
    def context_view() -> JSONResponse:
        ctx = request_context.get()
        return JSONResponse({"request_id": ctx.request_id, "ip": ctx.ip, "ua": ctx.user_agent})

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    @app.get("/items/{number}")
    def item(number: int) -> JSONResponse:
        return JSONResponse({"number": number})

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail password=hunter2")

    @app.get("/missing-client")
    def missing_client() -> None:
        raise NotFound("error.unknown_client", detail="client_id=abc not in the database")

    @app.get("/maintenance")
    def maintenance() -> None:
        raise ServiceUnavailable("error.service_unavailable")

    @app.get("/db-down")
    def db_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    @app.get("/db-integrity")
    def db_integrity() -> None:
        raise IntegrityError("INSERT ...", {}, ValueError("duplicate key"))

    return app


@pytest.fixture
def web_settings() -> Settings:
    return make_web_settings()


@pytest.fixture
def web_app(web_settings: Settings) -> FastAPI:
    return build_app(web_settings)


@pytest.fixture
def client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def browser(web_app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for HTML, as a browser does (a separate cookie jar from ``client``)."""
    headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(web_app, raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client


@pytest.fixture
def app_factory() -> Callable[..., FastAPI]:
    """``app_factory(**settings_overrides)`` → a fresh test app."""

    def factory(**overrides: object) -> FastAPI:
        return build_app(make_web_settings(**overrides))

    return factory
