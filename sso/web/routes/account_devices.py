"""The account console's devices and apps: ``/account/sessions`` (log out this device, another
one, or all other devices; the relying parties of each ended session get back-channel logout
tokens) and ``/account/apps`` (revoke a connected app: its consent and tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import connections
from sso.core.errors import NotFound
from sso.oidc.backchannel import deliver_soon
from sso.web.account_ui import done, ender, page, read_form
from sso.web.console import require_login
from sso.web.deps import runtime_of
from sso.web.responses import clear_session_cookie
from sso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/account/sessions")
def sessions_page(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_login(request, db)
        views = connections.sessions_of(db, who.user.id, who.login.id)
        response = page(request, db, who, "sessions.html", "sessions", {"sessions": views})
        db.commit()
        return response


@router.post("/account/sessions/end")
async def end_one(request: Request) -> Response:
    fields = await read_form(request, ("session_id",))
    return await run_in_threadpool(_end_one, request, fields["session_id"])


def _end_one(request: Request, session_id: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account/sessions")
        this_device = session_id == who.login.id
        try:
            deliveries = connections.end_own_session(
                db, runtime.settings, who.user.id, session_id, ender("account_console")
            )
            db.commit()
        except NotFound:
            db.commit()  # the refusal's audit event (nothing else was written)
            raise
    deliver_soon(runtime, deliveries)
    if this_device:  # "log out this device": the same end as /logout
        response = render(request, "logged_out.html", {"redirect_uri": None})
        clear_session_cookie(response, runtime.settings)
        return response
    return done("/account/sessions", "ended")


@router.post("/account/sessions/end-others")
async def end_others(request: Request) -> Response:
    await read_form(request, ())
    return await run_in_threadpool(_end_others, request)


def _end_others(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account/sessions")
        _, deliveries = connections.end_other_sessions(
            db, who.user.id, who.login.id, ender("account_console")
        )
        db.commit()
    deliver_soon(runtime, deliveries)
    return done("/account/sessions", "others")


@router.get("/account/apps")
def apps_page(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_login(request, db)
        views = connections.apps_of(db, who.user.id)
        response = page(request, db, who, "apps.html", "apps", {"apps": views})
        db.commit()
        return response


@router.post("/account/apps/revoke")
async def revoke_app(request: Request) -> Response:
    fields = await read_form(request, ("client_id",))
    return await run_in_threadpool(_revoke_app, request, fields["client_id"])


def _revoke_app(request: Request, client_id: str) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_login(request, db, next_path="/account/apps")
        try:
            connections.revoke_app(db, who.user.id, client_id)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    return done("/account/apps", "revoked")
