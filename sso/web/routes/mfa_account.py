"""``/account/security``: the person's second factors. TOTP enrolment (QR code and manual key)
and removal, recovery codes (shown once; regenerating voids the old ones) and passkeys (add,
rename, remove).

Any page needs a logged-in person; adding or removing a factor and regenerating codes need a
login within the last 5 minutes (:func:`sso.web.console.require_recent_login`), so a stolen
session cookie alone cannot plant a factor or take one away. Every change is an audit event.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa, passkeys
from sso.core.events import Event
from sso.db.models import User
from sso.storage import audit
from sso.storage import mfa as repo
from sso.web import account_ui, navigation, security
from sso.web.console import (
    RECENT_LOGIN_SECONDS,
    CurrentLogin,
    current_login,
    require_login,
    require_recent_login,
)
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.routes import mfa_pages
from sso.web.templating import default_locale, render

router = APIRouter(include_in_schema=False)

HOME = "/account/security"
NEW_PASSKEY = "/account/security/passkeys/new"
TOTP_PAGE = "/account/security/totp"
DONE = {
    "totp_enrolled": "mfa.done.totp_enrolled",
    "totp_removed": "mfa.done.totp_removed",
    "passkey_added": "mfa.done.passkey_added",
    "passkey_renamed": "mfa.done.passkey_renamed",
    "passkey_removed": "mfa.done.passkey_removed",
}
MAX_JSON = 64 * 1024


def _done(target: str) -> Response:
    response = RedirectResponse(f"{HOME}?done={target}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    security.csrf.verify(request, form)
    return {k: str(v)[:1024] for k, v in form.items() if isinstance(v, str)}


def _last_factor(db: Session, request: Request, user: User, *, totp: bool, passkey: bool) -> bool:
    """Whether removing this factor would leave a person who must use MFA with none."""
    have = mfa.factors(db, user.id)
    left_totp = have.totp and not totp
    left_passkeys = have.passkeys - (1 if passkey else 0)
    return (
        not left_totp
        and left_passkeys <= 0
        and mfa.mfa_required(db, runtime_of(request).settings, user)
    )


def _nav(request: Request, db: Session, user: User) -> navigation.Nav:
    """The signed-in header of the security pages (their menu link marked)."""
    return navigation.for_person(request, db, user, current="security")


# ---------------------------------------------------------------------- overview
def _overview(
    request: Request, db: Session, user: User, error: str | None = None, status: int = 200
) -> Response:
    context = {
        **account_ui.frame(request, db, user, "security"),  # the account console's layout
        "factors": mfa.factors(db, user.id),
        "passkeys": list(repo.passkeys_of(db, user.id)),
        "required": mfa.mfa_required(db, runtime_of(request).settings, user),
        "csrf_token": security.csrf.token_for(request),
        "done": None if error else DONE.get(request.query_params.get("done") or ""),
        "error": error,
    }
    db.commit()
    return render(request, "mfa/security.html", context, status=status)


@router.get(HOME)
def security_page(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_login(request, db)
        return _overview(request, db, who.user)


# ---------------------------------------------------------------------- TOTP
@router.get(TOTP_PAGE)
def totp_page(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db)
        if mfa.factors(db, who.user.id).totp:
            return _done("totp_enrolled")
        response = mfa_pages.enrol_page(
            request,
            db,
            runtime.encryptor,
            who.user,
            action=TOTP_PAGE,
            cancel_url=HOME,
            nav=_nav(request, db, who.user),
        )
        db.commit()
        return response


@router.post(TOTP_PAGE)
async def totp_confirm(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_totp_confirm, request, form.get("code", ""))


def _totp_confirm(request: Request, code: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path=TOTP_PAGE)
        codes = mfa.confirm_totp(db, runtime.settings, runtime.encryptor, who.user, code)
        if codes is None:
            db.rollback()
            if mfa.factors(db, who.user.id).totp:
                return _done("totp_enrolled")
            response = mfa_pages.enrol_page(
                request,
                db,
                runtime.encryptor,
                who.user,
                action=TOTP_PAGE,
                cancel_url=HOME,
                error="mfa.code_invalid",
                status=400,
                nav=_nav(request, db, who.user),
            )
            db.commit()
            return response
        db.commit()
        if not codes:
            return _done("totp_enrolled")
        return mfa_pages.recovery_codes_page(
            request,
            codes,
            continue_url=f"{HOME}?done=totp_enrolled",
            enrolled=True,
            nav=_nav(request, db, who.user),
        )


@router.post("/account/security/totp/remove")
async def totp_remove(request: Request) -> Response:
    await _form(request)
    return await run_in_threadpool(_totp_remove, request)


def _totp_remove(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db, next_path=HOME)
        if _last_factor(db, request, who.user, totp=True, passkey=False):
            return _overview(request, db, who.user, "mfa.last_factor_required", 409)
        mfa.remove_totp(db, who.user)
        db.commit()
        return _done("totp_removed")


# ---------------------------------------------------------------------- recovery codes
@router.post("/account/security/recovery-codes")
async def recovery_codes(request: Request) -> Response:
    await _form(request)
    return await run_in_threadpool(_recovery_codes, request)


def _recovery_codes(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path=HOME)
        if not mfa.has_mfa(db, who.user.id):
            return _overview(request, db, who.user, "mfa.recovery_needs_factor", 409)
        codes = mfa.new_recovery_codes(db, runtime.settings, who.user.id, actor_id=who.user.id)
        db.commit()
        return mfa_pages.recovery_codes_page(
            request, codes, continue_url=HOME, nav=_nav(request, db, who.user)
        )


# ---------------------------------------------------------------------- passkeys
@router.get(NEW_PASSKEY)
def new_passkey_page(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db)
        context = {
            "csrf_token": security.csrf.token_for(request),
            "nav": _nav(request, db, who.user),
        }
        db.commit()
        return render(request, "mfa/passkey_new.html", context)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}") if len(raw) <= MAX_JSON else {}
    except ValueError:
        data = {}
    body = data if isinstance(data, dict) else {}
    security.csrf.verify(request, body)
    return body


def _json_error(request: Request, key: str, status: int = 400, **extra: str) -> Response:
    locale = negotiate_locale(request, default=default_locale(request))
    return JSONResponse(
        {"error": key, "message": translate(locale, key), **extra},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _recent(request: Request, db: Session) -> CurrentLogin | None:
    """A JSON call cannot follow a login redirect: the script is sent to the page instead."""
    who = current_login(request, db)
    if who is None or not who.logged_in_within(RECENT_LOGIN_SECONDS):
        return None
    return who


@router.post("/account/security/passkeys/options")
async def passkey_options(request: Request) -> Response:
    await _json(request)
    return await run_in_threadpool(_passkey_options, request)


def _passkey_options(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = _recent(request, db)
        if who is None:
            return _json_error(request, "mfa.login_again", 401, redirect=NEW_PASSKEY)
        handle, options = passkeys.registration_options(db, runtime.settings, who.user)
        db.commit()
        return JSONResponse(
            {"handle": handle, "options": options}, headers={"Cache-Control": "no-store"}
        )


@router.post("/account/security/passkeys")
async def passkey_add(request: Request) -> Response:
    body = await _json(request)
    return await run_in_threadpool(_passkey_add, request, body)


def _passkey_add(request: Request, body: dict[str, Any]) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = _recent(request, db)
        if who is None:
            return _json_error(request, "mfa.login_again", 401, redirect=NEW_PASSKEY)
        name = body.get("name")
        try:
            passkeys.register(
                db,
                runtime.settings,
                who.user,
                body.get("handle"),
                body.get("credential"),
                name if isinstance(name, str) else "",
            )
        except passkeys.PasskeyError as exc:
            db.commit()  # the spent challenge
            return _json_error(request, exc.message)
        db.commit()
        return JSONResponse(
            {"redirect": f"{HOME}?done=passkey_added"}, headers={"Cache-Control": "no-store"}
        )


@router.post("/account/security/passkeys/{passkey_id}/rename")
async def passkey_rename(request: Request, passkey_id: str) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_passkey_rename, request, passkey_id, form.get("name", ""))


def _passkey_rename(request: Request, passkey_id: str, name: str) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_login(request, db, next_path=HOME)
        row = repo.get_passkey(db, who.user.id, passkey_id[:64])
        if row is None:
            return _overview(request, db, who.user, "mfa.passkey_not_found", 404)
        cleaned = passkeys.clean_name(name)
        if not cleaned:
            return _overview(request, db, who.user, "mfa.passkey_name_required", 400)
        row.name = cleaned
        audit.record(
            db,
            Event.MFA_PASSKEY_RENAMED,
            actor_id=who.user.id,
            target_type="user",
            target_id=who.user.id,
            passkey_id=row.id,
        )
        db.commit()
        return _done("passkey_renamed")


@router.post("/account/security/passkeys/{passkey_id}/remove")
async def passkey_remove(request: Request, passkey_id: str) -> Response:
    await _form(request)
    return await run_in_threadpool(_passkey_remove, request, passkey_id)


def _passkey_remove(request: Request, passkey_id: str) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db, next_path=HOME)
        if repo.get_passkey(db, who.user.id, passkey_id[:64]) is None:
            return _overview(request, db, who.user, "mfa.passkey_not_found", 404)
        if _last_factor(db, request, who.user, totp=False, passkey=True):
            return _overview(request, db, who.user, "mfa.last_factor_required", 409)
        repo.delete_passkey(db, who.user.id, passkey_id[:64])
        audit.record(
            db,
            Event.MFA_PASSKEY_REMOVED,
            actor_id=who.user.id,
            target_type="user",
            target_id=who.user.id,
            passkey_id=passkey_id[:64],
        )
        db.commit()
        return _done("passkey_removed")
