"""The account console's personal data: ``/account/data`` (what is held, the JSON download of
it: the right of access of the PDP law) and ``/account/delete`` (citizens delete their account
with their password, a recent login and, when they have one, their second factor; staff are
told to ask an administrator)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sso.accounts import deletion, mfa, profile
from sso.accounts.export import build_export
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.core.clock import now
from sso.db.models import User
from sso.oidc.backchannel import deliver_soon
from sso.web import console
from sso.web.account_ui import PasswordVerdict, page, read_form, verify_current_password
from sso.web.console import require_recent_login
from sso.web.deps import runtime_of
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


def _deleting(request: Request, db: Session) -> tuple[console.CurrentLogin, str | None]:
    """The person on the delete page and the second factor they must prove (a passkey-only
    person proves it by a recent login that used the passkey)."""
    who = require_recent_login(request, db, next_path="/account/delete")
    factor = deletion.factor_needed(db, who.user.id)
    if factor == deletion.FACTOR_PASSKEY_LOGIN:
        who = require_recent_login(request, db, next_path="/account/delete", acr=console.ACR_MFA)
    return who, factor


def _delete_page(
    request: Request,
    status: int = 200,
    error: str | None = None,
    params: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    with runtime_of(request).sessions() as db:
        who, factor = _deleting(request, db)
        context = {
            "factor": factor,
            "may_delete": who.user.kind == "citizen",
            "error": error,
            "error_params": params or {},
        }
        response = page(
            request, db, who, "delete.html", "data", context, status=status, headers=headers
        )
        db.commit()
        return response


@router.get("/account/delete")
def delete_form(request: Request) -> Response:
    return _delete_page(request)


@router.post("/account/delete")
@checks_password
async def delete(request: Request) -> Response:
    fields = await read_form(request, ("password", "confirm", "code"))
    return await run_in_threadpool(_delete, request, fields)


def _delete(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who, factor = _deleting(request, db)
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
            return _delete_page(
                request,
                429,
                "login.locked",
                {"minutes": verdict.minutes},
                headers={"Retry-After": str(verdict.retry_after)},
            )
        return _delete_page(request, 400, "account.current_password_wrong")
    if factor == deletion.FACTOR_CODE:
        refused = _check_code(request, user_id, fields["code"])
        if refused is not None:
            return refused
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


def _check_code(request: Request, user_id: str, code: str) -> Response | None:
    """Use up the second factor's code under the same guessing limits as the login's MFA step;
    None when it is right, else the form again with why."""
    if not code.strip():  # not a guess: nothing counted
        return _delete_page(request, 400, "account.delete.code_missing")
    runtime = runtime_of(request)
    guard = runtime.throttle
    attempt = mfa.reserve_code_attempt(guard, user_id, events.current_context().ip)
    if not attempt.verdict.allowed:
        wait = attempt.verdict.retry_after
        return _delete_page(
            request,
            429,
            "mfa.locked",
            {"minutes": wait_minutes(wait)},
            headers={"Retry-After": str(wait)},
        )
    with runtime.sessions() as db:
        user = db.get(User, user_id)
        if user is None:
            return _delete_page(request, 400, "mfa.code_invalid")
        try:
            deletion.check_second_factor(db, runtime.settings, runtime.encryptor, user, code)
        except mfa.SecondFactorRefused as exc:
            db.commit()  # the audit event of the failure
            return _delete_page(request, 401, exc.message)
        db.commit()
    mfa.code_attempt_succeeded(guard, attempt)
    return None
