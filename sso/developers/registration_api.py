"""OAuth 2.0 Dynamic Client Registration (RFC 7591) and Management (RFC 7592) over HTTP.

``POST /oauth2/register`` with ``Authorization: Bearer <initial access token>`` and a JSON
object of client metadata → ``201`` with the client's metadata, ``client_id``, once its
``client_secret`` and ``registration_access_token``, and ``registration_client_uri``.
``GET``/``PUT``/``DELETE /oauth2/register/{client_id}`` with ``Authorization: Bearer
<registration access token>`` read, replace and delete that client. A missing, unknown,
expired, used-up or revoked token is ``401 invalid_token`` (RFC 6750 §3.1), the same answer
whatever the reason, and audited; bad metadata is ``400`` with ``invalid_redirect_uri`` or
``invalid_client_metadata`` (RFC 7591 §3.2.2). Answers are JSON and never cached.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.core.events import Event
from sso.oauth import developer_apps as review
from sso.oauth import dynamic_registration as dcr
from sso.oauth import initial_access
from sso.oauth.requests import MAX_BODY_BYTES
from sso.runtime import Runtime
from sso.storage import audit
from sso.web.deps import runtime_of

router = APIRouter(tags=["registration"])

PATH = "/oauth2/register"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _BadBody(Exception):
    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _error(error: str, description: str, status: int = 400) -> Response:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return _json({"error": error, "error_description": description}, status, headers)


def _unauthorized() -> Response:
    return _error("invalid_token", "the access token is missing, unknown, expired or revoked", 401)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _body(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _BadBody("the request body is too large", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _BadBody("the request body is too large", 413)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise _BadBody("the request body must be application/json")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _BadBody("the request body is not valid JSON") from exc


def _refused(runtime: Runtime, reason: str, client_id: str | None = None) -> Response:
    with runtime.sessions() as session:
        audit.record(
            session,
            Event.CLIENT_REGISTRATION_REFUSED,
            outcome="failure",
            client_id=client_id,
            target_type="client" if client_id else None,
            target_id=client_id,
            reason=reason,
        )
        session.commit()
    return _unauthorized()


# ---------------------------------------------------------------------------- RFC 7591


@router.post(PATH)
async def register(request: Request) -> Response:
    token = _bearer(request)
    try:
        body = await _body(request)
    except _BadBody as exc:
        return _error("invalid_client_metadata", exc.description, exc.status)
    return await run_in_threadpool(_register, runtime_of(request), token, body)


def _register(runtime: Runtime, token: str | None, body: Any) -> Response:
    settings = runtime.settings
    with runtime.sessions() as session:
        if token is None or initial_access.find(session, runtime.secret_key, token) is None:
            session.rollback()
            return _refused(runtime, "initial access token missing or not usable")
        try:
            meta = dcr.parse(body, settings)
        except dcr.RegistrationError as exc:
            return _error(exc.error, exc.description, exc.status)
        used = initial_access.use(session, runtime.secret_key, token)
        if used is None:  # used up by a concurrent registration
            session.rollback()
            return _refused(runtime, "initial access token used up")
        answer = dcr.register(session, settings, meta, used)
        session.commit()
    return _json(answer, 201)


# ---------------------------------------------------------------------------- RFC 7592


@router.get(PATH + "/{client_id}")
def read(request: Request, client_id: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        client = dcr.authorized_client(session, runtime.settings, client_id, _bearer(request))
        if client is None:
            session.rollback()
            return _refused(runtime, "registration access token not valid for this client")
        return _json(dcr.response_of(client, runtime.settings))


@router.put(PATH + "/{client_id}")
async def update(request: Request, client_id: str) -> Response:
    token = _bearer(request)
    try:
        body = await _body(request)
    except _BadBody as exc:
        return _error("invalid_client_metadata", exc.description, exc.status)
    return await run_in_threadpool(_update, runtime_of(request), client_id, token, body)


def _update(runtime: Runtime, client_id: str, token: str | None, body: Any) -> Response:
    with runtime.sessions() as session:
        client = dcr.authorized_client(session, runtime.settings, client_id, token)
        if client is None:
            session.rollback()
            return _refused(runtime, "registration access token not valid for this client")
        try:
            answer = dcr.replace(session, runtime.settings, client, body)
        except dcr.RegistrationError as exc:
            session.rollback()
            return _error(exc.error, exc.description, exc.status)
        session.commit()
    return _json(answer)


@router.delete(PATH + "/{client_id}")
def delete(request: Request, client_id: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        client = dcr.authorized_client(session, runtime.settings, client_id, _bearer(request))
        if client is None:
            session.rollback()
            return _refused(runtime, "registration access token not valid for this client")
        review.delete_client(session, client, actor_id=None, by="dynamic_registration")
        session.commit()
    return Response(status_code=204, headers=NO_STORE)
