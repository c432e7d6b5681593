"""The lean road for ``/scim/v2`` (issue 16): SCIM requests skip the page-serving stack.

A provisioning run is thousands of small JSON requests from one machine client. On the way to
the SCIM routes they used to cross five middlewares and the main router (the public documents,
the request context, CORS, the rate limits, the password-check line, then ~20 routers tried in
order). :class:`ScimLane`, installed outermost by ``create_app``, hands a request whose path is
under ``/scim/v2`` to a small application of its own instead: a FastAPI app with only the SCIM
router, the same exception handlers and the same state (runtime) as the main app, and only the
middlewares that matter for a machine API, the very same classes as on the main stack:

- :class:`sso.web.middleware.RequestContextMiddleware`: ``X-Request-ID``, the request context
  (client IP and request id for the audit trail), the body limit, the security headers, the
  access log line and the request metrics;
- :class:`sso.web.load_shedding.RateLimits`: the per-IP request limit.

Left out on purpose: the public documents (discovery and JWKS only), CORS (SCIM is not one of
its paths) and the password-check line (no SCIM route is marked ``checks_password``).
Everything else (lifespan, other paths, websockets) goes to the main application unchanged.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from sso.config import Settings
from sso.scim.routes import PREFIX, router
from sso.web.load_shedding import RateLimits
from sso.web.middleware import RequestContextMiddleware


def scim_application(main: FastAPI, settings: Settings) -> FastAPI:
    """The small application for ``/scim/v2``, sharing ``main``'s state and error handlers.

    Call it once ``main`` has all its exception handlers (they are copied, not shared)."""
    lean = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    lean.state = main.state  # the runtime, readiness: the routes read request.app.state
    for key, handler in main.exception_handlers.items():
        lean.add_exception_handler(key, handler)
    lean.include_router(router)
    # Inner to outer, as on the main stack: the rate limits need the client IP.
    lean.add_middleware(RateLimits, settings=settings)
    lean.add_middleware(RequestContextMiddleware, trusted_proxies=settings.trusted_proxy_list)
    return lean


def is_scim_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class ScimLane:
    """Sends HTTP requests under ``/scim/v2`` to ``scim``; everything else to ``app``."""

    def __init__(self, app: ASGIApp, *, scim: ASGIApp) -> None:
        self.app = app
        self.scim = scim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_scim_path(scope.get("path", "")):
            await self.scim(scope, receive, send)
            return
        await self.app(scope, receive, send)
