"""The Admin API application (mounted at ``/api/admin/v1``): its routers, its OpenAPI 3.1
description, errors as RFC 9457 problem details, one audit event per call, and the per-client
rate limit of /token applied to API calls too (the per-IP one is the provider's own, in front
of every path).

Error mapping: a refusal of the shared rules (:class:`~sso.admin.services.authority.Forbidden`)
is 403 and an ``admin.access_denied`` event, as in the console; any other domain error keeps its
status and its catalogue key as the problem ``type`` (``urn:tangsel-sso:problem:<key>``), so a
program can tell the console's refusals apart; a write that lost a race with another (the
version check) is 412; a body that does not validate is 400 with ``errors`` (a JSON pointer and
a message each, never the submitted value).
"""

from __future__ import annotations

import logging
import re
from importlib import import_module
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sso import __version__
from sso.admin.services.authority import Forbidden
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.runtime import Runtime
from sso.storage import audit
from sso.web.errors import describe
from sso.web.machine_auth import MachineCaller
from sso.web.problems import Problem

logger = logging.getLogger("sso.api")

PREFIX = "/api/admin/v1"
ROUTERS = (
    "sso.api.users",
    "sso.api.agencies",
    "sso.api.roles",
    "sso.api.clients",
    "sso.api.sessions",
    "sso.api.audit_events",
    "sso.api.keys",
    "sso.api.upstreams",
    "sso.api.webhooks",
)
API_CALLED = Event.ADMIN_API_CALLED
_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _instance(request: Request) -> str:
    return request.url.path


def _caller(request: Request) -> MachineCaller | None:
    found = getattr(request.state, "machine_caller", None)
    return found if isinstance(found, MachineCaller) else None


def _record_denial(runtime: Runtime, caller: MachineCaller | None, exc: Forbidden) -> None:
    with runtime.sessions() as session:
        if caller is not None:
            audit.act_for_client(session, caller.client_id)
        audit.record(
            session, Event.ADMIN_ACCESS_DENIED, outcome="failure", reason=exc.reason, **exc.details
        )
        session.commit()


def install_handlers(api: FastAPI, runtime: Runtime) -> None:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response(_instance(request))

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        logger.warning("admin API refused: %s", exc.reason)
        await run_in_threadpool(_record_denial, runtime, _caller(request), exc)
        return Problem(
            403, describe("admin.forbidden"), code="admin.forbidden", reason=exc.reason
        ).response(_instance(request))

    async def domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        logger.info("admin API: %s (%s)", exc.message, exc.detail or "")
        params = {k: v for k, v in exc.params.items() if isinstance(v, (str, int, float))}
        extensions: dict[str, Any] = {"params": params} if params else {}
        # A catalogue key names the kind of problem; plain text (a lower layer's) does not.
        code = exc.message if _KEY.fullmatch(exc.message) else None
        return Problem(
            exc.status_code, describe(exc.message, params), code=code, **extensions
        ).response(_instance(request))

    async def stale(request: Request, exc: Exception) -> Response:
        return Problem(
            412,
            "The record changed since you read it: read it again, then retry.",
            code="admin.conflict",
        ).response(_instance(request))

    async def integrity(request: Request, exc: Exception) -> Response:
        logger.info("admin API: integrity conflict", exc_info=exc)
        return Problem(409, "This conflicts with a record that exists.", code="conflict").response(
            _instance(request)
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for error in exc.errors():
            where = [str(part) for part in error.get("loc", ())]
            errors.append({"pointer": "#/" + "/".join(where), "detail": str(error.get("msg"))})
        return Problem(
            400, "The request does not validate.", code="invalid_request", errors=errors
        ).response(_instance(request))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return Problem(
            exc.status_code, str(exc.detail) if exc.status_code != 500 else "", headers=exc.headers
        ).response(_instance(request))

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("admin API: unexpected error", exc_info=exc)
        return Problem(500, "Something went wrong on our side.").response(_instance(request))

    api.add_exception_handler(Problem, problem)  # MachineAuthError included
    api.add_exception_handler(Forbidden, forbidden)
    api.add_exception_handler(DomainError, domain)
    api.add_exception_handler(StaleDataError, stale)
    api.add_exception_handler(IntegrityError, integrity)
    api.add_exception_handler(RequestValidationError, invalid)
    api.add_exception_handler(HTTPException, http_error)
    api.add_exception_handler(Exception, unexpected)


# ---------------------------------------------------------------------------- every call


class CallAudit:
    """Records ``admin_api.called`` for every call once its answer is known (method, path,
    status; the client as actor when the token named one). Never the query string or body."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            state: dict[str, Any] = scope.get("state") or {}
            caller = state.get("machine_caller")
            path = str(scope.get("path", ""))
            await run_in_threadpool(
                self._record,
                caller if isinstance(caller, MachineCaller) else None,
                str(scope.get("method")),
                path[:300],
                status,
            )

    def _record(self, caller: MachineCaller | None, method: str, path: str, status: int) -> None:
        with self.runtime.sessions() as session:
            if caller is not None:
                audit.act_for_client(session, caller.client_id)
            audit.record(
                session,
                API_CALLED,
                outcome="success" if status < 400 else "failure",
                target_type="api",
                method=method,
                path=path,
                status=status,
            )
            session.commit()


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def _describe_security(api: FastAPI, issuer: str) -> None:
    """Add to the generated description what FastAPI cannot infer: the OAuth 2.0 client
    credentials scheme and the scope each operation needs, and the problem details answer."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(
            title=api.title,
            version=api.version,
            description=api.description,
            routes=api.routes,
            servers=api.servers,
        )
        components = doc.setdefault("components", {})
        components["securitySchemes"] = {
            "adminClient": {
                "type": "oauth2",
                "description": "An access token of a client_credentials client (see README).",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": issuer.rstrip("/") + "/token",
                        "scopes": {
                            "admin:read": "Read what the client may see.",
                            "admin:write": "Change it and act (disable, rotate …).",
                        },
                    }
                },
            }
        }
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem = {
            "description": "A problem (RFC 9457).",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for item in doc.get("paths", {}).values():
            for method, operation in item.items():
                scope = "admin:read" if method == "get" else "admin:write"
                operation["security"] = [{"adminClient": [scope]}]
                operation.setdefault("responses", {})["default"] = problem
                operation["responses"].pop("422", None)  # ours is 400, in the default
        api.openapi_schema = doc
        return doc

    api.openapi = openapi  # type: ignore[method-assign]


def build_api(runtime: Runtime) -> FastAPI:
    api = FastAPI(
        title="Tangsel SSO Admin API",
        version=__version__,
        description=(
            "Administration of Tangsel SSO for other systems. Bearer access tokens from "
            "/token (client_credentials) with the scopes admin:read and/or admin:write. "
            "Lists are keyset pages: follow the Link header (rel=next, rel=prev). Every "
            "GET of a record gives an ETag; a change of it takes If-Match. Errors are "
            "RFC 9457 problem details (application/problem+json)."
        ),
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": PREFIX}],
    )
    api.state.runtime = runtime
    _describe_security(api, runtime.settings.issuer_url)
    install_handlers(api, runtime)
    api.add_middleware(CallAudit, runtime=runtime)
    for name in ROUTERS:
        api.include_router(import_module(name).router)
    return api


def mount_api(app: FastAPI, runtime: Runtime) -> None:
    """Mount the API on the provider at :data:`PREFIX`. Every path below the prefix reaches
    it, also one with an (encoded) line break, which Starlette's mount pattern would leave to
    the provider's own 404 page instead of a problem document."""
    mount = Mount(PREFIX, app=build_api(runtime))
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    app.router.routes.append(mount)


__all__ = ["PREFIX", "build_api", "mount_api"]
