"""Composition root: ``create_app(settings)`` builds the FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from sso import __version__
from sso.config import Settings, load_settings
from sso.core.logging import configure_logging
from sso.runtime import migration_head, schema_revision
from sso.web.app_runtime import AppRuntime, build_app_runtime

log = logging.getLogger("sso.app")
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
ROUTERS = (
    "sso.web.routes.discovery",
    "sso.web.routes.authorize",
    "sso.web.routes.interaction",
    "sso.web.routes.upstreams",
    "sso.web.routes.upstream_answer",
    "sso.web.routes.upstream_passkey",
    "sso.web.routes.account_identities",
    "sso.web.routes.token",
    # Before the pages: a SCIM request is matched against ~20 routes, not all of them (its
    # catch-all only takes paths under /scim/v2).
    "sso.scim.discovery",
    "sso.scim.routes",
    "sso.web.routes.logout",
    "sso.web.routes.account_self_service",
    "sso.web.routes.signup",
    "sso.web.routes.code_login",
    "sso.web.routes.phone_signup",
    "sso.web.routes.activation",
    "sso.web.routes.device",
    "sso.web.routes.home",
    "sso.web.console",
    "sso.web.routes.mfa",
    "sso.web.routes.account",
    "sso.web.routes.metrics",
    "sso.admin.routes",
    "sso.developers.routes",
    "sso.developers.registration_api",
)


def _prepare(runtime: AppRuntime) -> None:
    """Per-process start-up: make sure signing keys exist (safe with many workers at once)."""
    try:
        with runtime.sessions() as session:
            runtime.keys.ensure_keys(session)
            session.commit()
    except SQLAlchemyError as exc:  # not migrated yet or database down: /readyz says so
        log.warning("signing keys not ensured at start: %s", exc.__class__.__name__)


def create_app(settings: Settings, runtime: AppRuntime | None = None) -> FastAPI:
    """The application over ``runtime`` (built here from ``settings`` unless given): its
    services are made once, and closed when the application's lifespan ends."""
    configure_logging(settings.log_level, settings.log_json)
    runtime = runtime or build_app_runtime(settings)
    head = migration_head()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from sso.oidc.backchannel import start_delivery_worker
        from sso.webhooks.delivery import start_worker as start_webhook_sender

        await run_in_threadpool(_prepare, runtime)
        stop_worker = start_delivery_worker(runtime)
        stop_webhooks = start_webhook_sender(runtime)
        app.state.ready = True
        yield
        app.state.ready = False  # readiness flips first on shutdown
        stop_worker()  # back-channel deliveries still queued are retried by any worker
        stop_webhooks()  # so are webhook deliveries (their claims' leases run out)
        runtime.close()  # the thread pools shut down, the engine disposed

    app = FastAPI(
        title="Tangsel SSO",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.state.ready = False

    from sso.web import console
    from sso.web.cors import CORSMiddleware
    from sso.web.errors import install_error_handlers
    from sso.web.middleware import RequestContextMiddleware

    install_error_handlers(app)
    from sso.scim.routes import install as install_scim

    install_scim(app)
    console.install(app)
    # Inner to outer: the load bounds run inside the request context (they need the client IP).
    from sso.web.load_shedding import PasswordCheckAdmission, RateLimits, WindowCounters

    rate_counters = WindowCounters(settings.redis_url)  # shared with the token lane below
    app.add_middleware(PasswordCheckAdmission, runtime=runtime)
    app.add_middleware(RateLimits, settings=settings, counters=rate_counters)
    app.add_middleware(CORSMiddleware)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=settings.trusted_proxy_list)
    # Outermost: discovery and JWKS answered from prebuilt bytes before the stack (issue 7).
    from sso.web.public_documents import PublicDocuments

    app.add_middleware(PublicDocuments)
    # Outermost: /token, /introspect, /revoke and /userinfo in raw ASGI (issue 17).
    from sso.web.token_lane import TokenLane

    app.add_middleware(TokenLane, counters=rate_counters)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    for name in ROUTERS:
        app.include_router(import_module(name).router)

    # The Admin REST API (issue 16): an application of its own, with its own OpenAPI
    # description and problem-details errors.
    from sso.api.app import mount_api

    mount_api(app, runtime)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        if not getattr(app.state, "ready", False):
            # draining: set by `sso serve` on SIGTERM (sso/cli/serve.py), before it stops
            status = "draining" if getattr(app.state, "draining", False) else "starting"
            return JSONResponse({"status": status}, status_code=503, headers={"Retry-After": "1"})
        try:
            revision = schema_revision(runtime.engine)
        except SQLAlchemyError:
            return JSONResponse(
                {"status": "database unreachable"}, status_code=503, headers={"Retry-After": "5"}
            )
        if revision != head:
            return JSONResponse(
                {"status": "database not migrated", "revision": revision, "head": head},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ready", "revision": revision})

    return app


def create_app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``sso serve``)."""
    return create_app(load_settings())
