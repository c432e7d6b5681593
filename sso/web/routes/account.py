"""The account console at /account: profile, password, sessions, connected apps, data export, deletion (issue 4).

This module holds the profile (name, phone, language), the email change, the NIK and the
password change; :mod:`sso.web.routes.account_devices` the sessions and connected apps, and
:mod:`sso.web.routes.account_privacy` the data export and the deletion of an account (their
routers are included here). MFA lives at ``/account/security`` (:mod:`sso.web.routes.mfa`).

Every page needs a logged-in person (:func:`sso.web.console.require_login`); the sensitive
ones (email, NIK, password, export, deletion) a login within the last 5 minutes, on the form
page and again on the POST (:func:`sso.web.console.require_recent_login`, back to the form
after logging in again). Every POST is CSRF-checked and every change is an audit event.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sso.accounts import connections, email_change, policy, profile
from sso.core.errors import Conflict, DomainError, InvalidInput
from sso.oidc.backchannel import deliver_soon
from sso.web.account_ui import done, ender, page, read_form, verify_current_password
from sso.web.console import require_login, require_recent_login
from sso.web.deps import runtime_of
from sso.web.load_shedding import checks_password
from sso.web.routes import account_devices, account_phone, account_privacy
from sso.web.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(account_devices.router)
router.include_router(account_privacy.router)
router.include_router(account_phone.router)

PROFILE_FIELDS = ("name", "phone", "locale", "version")


# ----------------------------------------------------------------------------- profile


def _profile_page(
    request: Request,
    values: dict[str, str] | None = None,
    errors: dict[str, profile.FieldError] | None = None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db)
        user = who.user
        shown = values or {
            "name": user.display_name,
            "phone": user.phone or "",
            "locale": user.locale,
        }
        context = {
            "values": shown,
            "version": str(user.version),
            "errors": errors or {},
            "error": error,
            "nik_masked": profile.masked_nik(runtime.encryptor, user),
            "agency": user.agency,
        }
        response = page(request, db, who, "profile.html", "profile", context, status=status)
        db.commit()  # the session's last-seen touch
        return response


@router.get("/account")
def profile_page(request: Request) -> Response:
    return _profile_page(request)


@router.post("/account/profile")
async def profile_save(request: Request) -> Response:
    fields = await read_form(request, PROFILE_FIELDS)
    return await run_in_threadpool(_profile_save, request, fields)


def _profile_save(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    form = profile.ProfileForm(fields["name"], fields["phone"], fields["locale"], fields["version"])
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account")
        try:
            changed = profile.update_profile(db, who.user, form)
            db.commit()
        except profile.ProfileInvalid as exc:
            db.rollback()
            errors = {e.field: e for e in exc.errors}
            return _profile_page(request, fields, errors, status=400)
        except Conflict as exc:
            db.rollback()
            return _profile_page(request, None, None, status=409, error=exc.message)
    # A new language: the pages follow it from now on (?lang= sets the language cookie).
    if "locale" in changed:
        return done("/account", "profile", lang=form.locale)
    return done("/account", "profile")


# ----------------------------------------------------------------------------- email


@router.get("/account/email")
def email_form(request: Request) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db)
        response = page(request, db, who, "email.html", "profile", {"email": ""})
        db.commit()
        return response


@router.post("/account/email")
async def email_request(request: Request) -> Response:
    fields = await read_form(request, ("email",))
    return await run_in_threadpool(_email_request, request, fields["email"])


def _email_request(request: Request, email: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/email")
        try:
            mails = email_change.request_change(db, runtime.settings, who.user, email)
            db.commit()
        except InvalidInput as exc:
            db.rollback()
            context = {"email": email, "error": exc.message}
            return page(request, db, who, "email.html", "profile", context, status=400)
        response = page(request, db, who, "email_sent.html", "profile", {"email": email.strip()})
    # The same page whether the address was free or not; the mail goes out afterwards.
    response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response


@router.get("/account/email/confirm")
def email_confirm(request: Request, token: str = "") -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        try:
            result = email_change.confirm_change(db, runtime.settings, token[:1024])
            db.commit()
        except BaseException:
            db.rollback()
            raise
    ok = result.status in ("changed", "already")
    response = render(
        request,
        "account/email_confirmed.html",
        {"status": result.status},
        status=200 if ok else (409 if result.status == "taken" else 400),
    )
    if result.mails:
        response.background = BackgroundTask(runtime.mailer.deliver, list(result.mails))
    return response


# ----------------------------------------------------------------------------- NIK


def _nik_page(
    request: Request,
    status: int = 200,
    error: str | None = None,
    params: dict[str, object] | None = None,
) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/nik")
        if who.user.kind != "citizen":
            raise profile.Forbidden("account.nik_citizens_only")
        context = {
            "nik_masked": profile.masked_nik(runtime.encryptor, who.user),
            "error": error,
            "error_params": params or {},
        }
        response = page(request, db, who, "nik.html", "profile", context, status=status)
        db.commit()
        return response


@router.get("/account/nik")
def nik_form(request: Request) -> Response:
    return _nik_page(request)


@router.post("/account/nik")
async def nik_save(request: Request) -> Response:
    fields = await read_form(request, ("nik", "action"))
    return await run_in_threadpool(_nik_save, request, fields)


def _nik_save(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/nik")
        try:
            if fields["action"] == "remove":
                if who.user.kind != "citizen":
                    raise profile.Forbidden("account.nik_citizens_only")
                profile.remove_nik(db, who.user)
                db.commit()
                return done("/account", "nik_removed")
            profile.set_nik(db, runtime.settings, runtime.encryptor, who.user, fields["nik"])
            db.commit()
        except profile.Forbidden:
            db.rollback()
            raise
        except DomainError as exc:  # a malformed NIK (which part, in words) or one taken
            db.rollback()
            return _nik_page(request, exc.status_code, exc.message, dict(exc.params))
    return done("/account", "nik")


# ----------------------------------------------------------------------------- password


def _password_page(
    request: Request,
    status: int = 200,
    error: str | None = None,
    params: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    with runtime_of(request).sessions() as db:
        who = require_recent_login(request, db, next_path="/account/password")
        context = {
            "error": error,
            "error_params": params or {},
            "min_length": policy.min_length(who.user.kind),
            "max_length": policy.MAX_LENGTH,
        }
        response = page(
            request, db, who, "password.html", "password", context, status=status, headers=headers
        )
        db.commit()
        return response


@router.get("/account/password")
def password_form(request: Request) -> Response:
    return _password_page(request)


@router.post("/account/password")
@checks_password
async def password_change(request: Request) -> Response:
    fields = await read_form(request, ("current_password", "password", "password_confirm"))
    return await run_in_threadpool(_password_change, request, fields)


def _password_change(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_recent_login(request, db, next_path="/account/password")
        current_session = who.login.id
        try:
            change = profile.prepare_password_change(
                who.user, fields["password"], fields["password_confirm"]
            )
        except DomainError as exc:
            db.rollback()
            return _password_page(request, exc.status_code, exc.message, dict(exc.params))
        db.commit()  # no transaction (nor SQLite lock) is held during the slow hashes
    verdict = verify_current_password(
        runtime, change.user_id, change.old_hash, fields["current_password"]
    )
    if not verdict.ok:
        with runtime.sessions() as db:
            profile.record_wrong_password(db, change.user_id, "password_change")
            db.commit()
        if verdict.retry_after:
            return _password_page(
                request,
                429,
                "login.locked",
                {"minutes": verdict.minutes},
                headers={"Retry-After": str(verdict.retry_after)},
            )
        return _password_page(request, 400, "account.current_password_wrong")
    new_hash = runtime.password_hasher.hash(fields["password"])
    with runtime.sessions() as db:
        try:
            profile.store_new_password(db, change, new_hash)
            _, deliveries = connections.end_other_sessions(
                db, change.user_id, current_session, ender("password_changed")
            )
            connections.revoke_all_grants(db, change.user_id, reason="password_changed")
            db.commit()
        except Conflict as exc:
            db.rollback()
            return _password_page(request, 409, exc.message)
    deliver_soon(runtime, deliveries)
    return done("/account/password", "password")
