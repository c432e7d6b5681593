"""Errors as a person or a program should see them.

A browser (``Accept`` mentions ``text/html``) gets ``error.html`` in its language; anything else
gets JSON ``{"error": …, "error_description": …}`` in the shape of RFC 6749 §5.2. Neither ever
carries a stack trace, an exception text or an echo of the input (FastAPI's default validation
handler echoes the submitted values, which may be a password): detail goes to the log, tagged
with the request id that the page shows as a reference.

The database being away (connection refused or dropped, pool exhausted) is a 503 with
``Retry-After`` rather than a 500: the request can simply be tried again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from sso.core.errors import DomainError
from sso.web.i18n import translate
from sso.web.security import security_headers
from sso.web.templating import render

logger = logging.getLogger("sso.web.errors")

RETRY_AFTER_SECONDS = 5

# status → (JSON error code, catalogue key of the message)
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "error.bad_request"),
    401: ("unauthorized", "error.forbidden"),
    403: ("access_denied", "error.forbidden"),
    404: ("not_found", "error.not_found"),
    405: ("method_not_allowed", "error.method_not_allowed"),
    409: ("conflict", "error.bad_request"),
    413: ("invalid_request", "error.payload_too_large"),
    415: ("invalid_request", "error.bad_request"),
    429: ("too_many_requests", "error.too_many_requests"),
    500: ("server_error", "error.generic"),
    503: ("temporarily_unavailable", "error.service_unavailable"),
}
# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_SAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _defaults(status: int) -> tuple[str, str]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return _BY_STATUS[500] if status >= 500 else _BY_STATUS[400]


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "").lower()


def request_id_of(request: Request) -> str | None:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else None


def describe(message: str, params: Mapping[str, Any] | None = None) -> str:
    """An RFC 6749-safe English ``error_description`` for a catalogue key or plain text."""
    text = translate("en", message, **dict(params or {}))
    return _NOT_DESCRIPTION_SAFE.sub(" ", text).strip()[:300]


def error_response(
    request: Request,
    status: int,
    *,
    error: str | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
    link: tuple[str, str] | None = None,
) -> Response:
    """An error page for a browser, JSON for a program. ``message`` is a catalogue key or text;
    ``title`` (a key) heads the page and ``link`` (path, key of its label) shows a way on."""
    default_error, default_message = _defaults(status)
    error = error or default_error
    message = message or default_message
    rid = request_id_of(request)
    extra_headers = dict(headers or {})
    extra_headers["Cache-Control"] = "no-store"
    if rid:
        extra_headers["X-Request-ID"] = rid
    if wants_html(request):
        context = {
            "title": title or "error.title",
            "message": message,
            "link": link,
            "params": dict(params or {}),
            "request_id": rid,
            "status": status,
            # The signed-in header, when the route knew who it refused (sso.admin.access).
            "nav": getattr(request.state, "nav", None),
        }
        try:
            return render(request, "error.html", context, status=status, headers=extra_headers)
        except Exception:  # the error page must not fail the error
            logger.exception("could not render the error page", extra={"request_id": rid})
            text = translate("id", message, **dict(params or {}))
            return HTMLResponse(
                f"<!doctype html><title>Tangsel SSO</title><p>{_escape(text)}</p>",
                status_code=status,
                headers={**security_headers(), **extra_headers},
            )
    body = {"error": error, "error_description": describe(message, params)}
    json_headers = {"X-Content-Type-Options": "nosniff", **extra_headers}
    return JSONResponse(body, status_code=status, headers=json_headers)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ----------------------------------------------------------------------------- handlers


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = exc.status_code
    level = logging.WARNING if status >= 500 or status == 403 else logging.INFO
    logger.log(
        level,
        "%s: %s",
        type(exc).__name__,
        exc.detail or exc.message,
        extra={"status": status, "request_id": request_id_of(request)},
    )
    headers = None
    if status in (429, 503):  # an error that passes: say when to try again
        retry_after = getattr(exc, "retry_after", None) or RETRY_AFTER_SECONDS
        headers = {"Retry-After": str(retry_after)}
    return error_response(
        request,
        status,
        error=getattr(exc, "error", None),
        message=exc.message,
        params=exc.params,
        headers=headers,
        title=getattr(exc, "title", None),
        link=getattr(exc, "link", None),
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, headers=exc.headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only the names of the parameters, never their values.
    names: list[str] = []
    for item in exc.errors():
        loc = [str(part) for part in item.get("loc", ()) if not isinstance(part, int)]
        name = loc[-1] if loc else "request"
        if name not in names:
            names.append(name)
    logger.info("invalid request parameters: %s", ", ".join(names))
    if wants_html(request):
        return error_response(request, 400, message="error.invalid_request")
    description = "missing or invalid parameter: " + ", ".join(names[:10])
    return error_response(request, 400, error="invalid_request", message=description)


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached right now"."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return False


async def database_error_handler(request: Request, exc: Exception) -> Response:
    if not is_database_unavailable(exc):
        return await server_error_handler(request, exc)
    logger.error(
        "database unavailable: %s",
        type(exc).__name__,
        exc_info=exc,
        extra={"request_id": request_id_of(request)},
    )
    return error_response(request, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def server_error_handler(request: Request, exc: Exception) -> Response:
    logger.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"request_id": request_id_of(request)},
    )
    return error_response(request, 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app`` (call once, in ``create_app``).

    The ``Exception`` handler runs in Starlette's outermost ``ServerErrorMiddleware``, so it
    also catches what escapes other middleware. ``app.debug`` must stay False: in debug mode
    Starlette shows its traceback page instead of calling this handler.
    """
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(sa_exc.DBAPIError, database_error_handler)
    app.add_exception_handler(sa_exc.TimeoutError, database_error_handler)
    app.add_exception_handler(sa_exc.DisconnectionError, database_error_handler)
    app.add_exception_handler(Exception, server_error_handler)
