"""The account console's personal data: ``/account/data`` (what is held, the JSON download of
it: the right of access of the PDP law) and ``/account/delete`` (citizens delete their account
with their password and a recent login; staff are told to ask an administrator)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import deletion, profile
from sso.accounts.export import build_export
from sso.core.clock import now
from sso.oidc.logout import deliver_soon
from sso.web.account_ui import (
    PasswordVerdict,
    page,
    read_form,
    runtime_of,
    verify_current_password,
)
from sso.web.console import require_recent_login
from sso.web.load_shedding import checks_password
from sso.web.responses import clear_session_cookie
from sso.web.security import security_headers
from sso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/account/data")
def data_page(request: Request) -> Response:
    # The page offers the download, which must follow a recent login: log in again first,
    # so the download link works when it is clicked.
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db)
        response = page(request, db, who, "data.html", "data")
        db.commit()
        return response


@router.get("/account/export")
def export(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/data")
        document = build_export(db, runtime.settings, runtime.encryptor, who.user)
        db.commit()
        username = who.user.username_normalized
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
    filename = f"tangsel-sso-{username}-{now():%Y%m%d}.json"
    headers = {
        **security_headers(),
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type="application/json; charset=utf-8", headers=headers)


def _delete_page(request: Request, status: int = 200, error: str | None = None,
                 params: dict[str, object] | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db, next_path="/account/delete")
        context = {
            "may_delete": who.user.kind == "citizen",
            "error": error,
            "error_params": params or {},
        }
        response = page(request, db, who, "delete.html", "data", context,
                        status=status, headers=headers)
        db.commit()
        return response


@router.get("/account/delete")
def delete_form(request: Request) -> Response:
    return _delete_page(request)


@router.post("/account/delete")
@checks_password
async def delete(request: Request) -> Response:
    fields = await read_form(request, ("password", "confirm"))
    return await run_in_threadpool(_delete, request, fields)


def _delete(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/delete")
        user = who.user
        deletion.check_may_delete(user)  # Forbidden for staff: an error page
        password_hash = user.password.password_hash if user.password else None
        user_id = user.id
        db.commit()
    if fields["confirm"] != "yes":
        return _delete_page(request, 400, "account.delete_confirm_missing")
    # An account without a password (passkeys only) proved itself by the recent login.
    verdict = PasswordVerdict(True)
    if password_hash is not None:
        verdict = verify_current_password(runtime, user_id, password_hash, fields["password"])
    if not verdict.ok:
        with runtime.sessions() as db:
            profile.record_wrong_password(db, user_id, "delete_account")
            db.commit()
        if verdict.retry_after:
            return _delete_page(request, 429, "login.locked", {"minutes": verdict.minutes},
                                headers={"Retry-After": str(verdict.retry_after)})
        return _delete_page(request, 400, "account.current_password_wrong")
    with runtime.sessions() as db:
        try:
            result = deletion.delete_account(db, runtime.settings, user_id)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    deliver_soon(runtime, result.deliveries)
    response = render(request, "account/deleted.html")
    clear_session_cookie(response, runtime.settings)
    return response

