"""POST /token, POST /introspect, POST /revoke, GET|POST /userinfo.

Each route is ``async`` only to read the body once; the protocol work (database, signing)
runs in the thread pool in one hop, with a Session of its own opened and closed there (a
``SessionDep`` would cost two more hops per request: bench/README.md §2). The transaction is
committed before the response goes out. A
refused request is rolled back whole (no half-written rows) and then only the effects that
must outlive it are applied and committed: the revocation after a replayed code or refresh
token, a used client-assertion ``jti``, and the audit events of the failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sso.oauth.requests import (
    MAX_BODY_BYTES,
    MalformedRequest,
    OAuthRequest,
    build_request,
    parse_form,
)
from sso.oauth.server import OAuthResponse
from sso.oidc.provider import BearerError, userinfo
from sso.runtime import Runtime
from sso.web import api_docs
from sso.web.app_runtime import AppRuntime
from sso.web.deps import runtime_of

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    """The body, refused past MAX_BODY_BYTES without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _render(result: OAuthResponse) -> Response:
    headers = dict(result.headers)
    headers.pop("Content-Type", None)
    if isinstance(result.body, dict):
        return Response(
            json.dumps(result.body, separators=(",", ":")),
            status_code=result.status,
            headers=headers,
            media_type="application/json",
        )
    return Response(result.body, status_code=result.status, headers=headers)


def _finish(
    session: Session, request: OAuthRequest, result: OAuthResponse, runtime: Runtime
) -> None:
    if result.status == 200:
        session.commit()
        return
    session.rollback()
    if request.on_error:
        if _is_autocommit(session):  # the effects that outlive the request: one transaction
            with runtime.sessions() as own:
                for action in request.on_error:
                    action(own)
                own.commit()
            return
        for action in request.on_error:
            action(session)
        session.commit()


# /userinfo only reads, and so does introspection on its way to a 200 (its one write, a
# client's guessing counter cleared after a success, is a single statement). On PostgreSQL
# they run on connections in autocommit: no BEGIN and no COMMIT/ROLLBACK round trip, two of
# their four or five per request (bench/README.md, issue 17). Under READ COMMITTED each
# statement sees its own snapshot either way, so they read the same. Not an introspection
# by a client authenticating with private_key_jwt: the assertion's jti is recorded in a
# savepoint, which needs the transaction. What a refused request must leave behind (the
# failure's audit row, the guessing counter) goes in one transaction (:func:`_finish`).
READ_ONLY_ENDPOINTS = frozenset({"introspection", "userinfo"})
_autocommit: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _sessions_for(runtime: Runtime, endpoint: str, body: bytes = b"") -> Session:
    engine = runtime.engine
    if (
        endpoint not in READ_ONLY_ENDPOINTS
        or engine.dialect.name != "postgresql"
        # a client assertion, or a body whose names might spell one in percent-encoding
        or b"assertion" in body
        or b"%" in body
    ):
        return runtime.sessions()
    bind = _autocommit.get(engine)
    if bind is None:
        bind = _autocommit[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return runtime.sessions(bind=bind)


def _is_autocommit(session: Session) -> bool:
    bind = session.get_bind()
    return bool(bind.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


def _serve_in(
    session: Session,
    runtime: AppRuntime,
    endpoint: str,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> OAuthResponse:
    server = runtime.token_server
    try:
        request = build_request(method, url, headers, body, session)
    except MalformedRequest as exc:
        return server.malformed_response(str(exc))
    try:
        if endpoint == "token":
            result = server.token_response(request)
        else:
            result = server.endpoint_response(endpoint, request)
        _finish(session, request, result, runtime)
    except BaseException:
        session.rollback()
        raise
    return result


def _serve(
    runtime: AppRuntime,
    session: Session | None,
    endpoint: str,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> OAuthResponse:
    if session is not None:
        return _serve_in(session, runtime, endpoint, method, url, headers, body)
    with _sessions_for(runtime, endpoint, body) as own:
        return _serve_in(own, runtime, endpoint, method, url, headers, body)


async def serve_endpoint(
    endpoint: str, request: Request, runtime: AppRuntime, session: Session | None = None
) -> Response:
    """Serve one OAuth endpoint; without ``session`` the work opens its own in the pool."""
    try:
        body = await _read_body(request)
    except _TooLarge:
        return _render(runtime.token_server.malformed_response("body too large"))
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    result = await _in_pool(
        _serve, runtime, session, endpoint, request.method, str(request.url), headers, body
    )
    return _render(result)


async def oauth_result(
    endpoint: str,
    runtime: AppRuntime,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> OAuthResponse:
    """What :func:`serve_endpoint` computes, for a caller that has read the body itself (the
    lean lane, :mod:`sso.web.token_lane`): the same work in the same thread pool."""
    return await _in_pool(_serve, runtime, None, endpoint, method, url, headers, body)


async def userinfo_claims(
    runtime: AppRuntime, authorization: str | None, content_type: str | None, body: bytes
) -> dict[str, Any]:
    """The claims ``/userinfo`` answers, or :class:`BearerError` (the lean lane's entry)."""
    return await _in_pool(_userinfo_sync, runtime, authorization, content_type, body)


T = TypeVar("T")


async def _in_pool(fn: Callable[..., T], runtime: AppRuntime, *args: Any) -> T:
    """``fn(runtime, *args)`` on the token endpoints' own threads (``runtime.token_pool``), with
    this request's context variables. Those threads, as many as the database pool has
    connections (so none waits for one), are apart from the shared pool where password checks
    may queue in a login storm: machine-to-machine traffic keeps moving. A plain executor also
    hands work over in about half the CPU of anyio's (bench/README.md)."""
    context = contextvars.copy_context()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        runtime.token_pool.executor(), context.run, fn, runtime, *args
    )


@router.post("/token", **api_docs.TOKEN)
async def token(request: Request) -> Response:
    return await serve_endpoint("token", request, runtime_of(request))


@router.post("/introspect", **api_docs.INTROSPECT)
async def introspect(request: Request) -> Response:
    return await serve_endpoint("introspection", request, runtime_of(request))


@router.post("/revoke", **api_docs.REVOKE)
async def revoke(request: Request) -> Response:
    return await serve_endpoint("revocation", request, runtime_of(request))


def _bearer(authorization: str | None, content_type: str | None, body: bytes) -> str:
    """The access token from the header or (POST) the form body (RFC 6750 §2.1, §2.2)."""
    found: list[str] = []
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError("invalid_request", 400, "Use the Bearer scheme.")
        found.append(value.strip())
    if body:
        try:
            form = parse_form(body, content_type)
        except MalformedRequest as exc:
            raise BearerError("invalid_request", 400, "Malformed request body.") from exc
        if "access_token" in form:
            found.append(form["access_token"])
    if len(found) > 1:
        raise BearerError("invalid_request", 400, "Send the access token one way only.")
    if not found:
        raise BearerError(None, 401)
    return found[0]


def _userinfo_sync(
    runtime: AppRuntime,
    authorization: str | None,
    content_type: str | None,
    body: bytes,
) -> dict[str, Any]:
    token = _bearer(authorization, content_type, body)
    with _sessions_for(runtime, "userinfo") as session:  # read only
        return userinfo(runtime, session, token)


@router.get("/userinfo", operation_id="userinfo_get", **api_docs.USERINFO)
@router.post("/userinfo", operation_id="userinfo_post", **api_docs.USERINFO)
async def userinfo_endpoint(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        body = await _read_body(request) if request.method == "POST" else b""
    except _TooLarge:
        return _bearer_error(BearerError("invalid_request", 400, "Request body too large."))
    try:
        claims = await userinfo_claims(
            runtime,
            request.headers.get("authorization"),
            request.headers.get("content-type"),
            body,
        )
    except BearerError as exc:
        return _bearer_error(exc)
    return JSONResponse(claims, headers=NO_STORE)


def _bearer_error(exc: BearerError) -> Response:
    return JSONResponse(
        exc.body,
        status_code=exc.status,
        headers={**NO_STORE, "WWW-Authenticate": exc.challenge},
    )
