"""The account console's phone number and email verification by code: ``/account/phone``
(choose a number and WhatsApp or SMS), ``/account/phone/code`` (type the code, or "Kirim
ulang"), and ``/account/email/code`` for an email address not verified yet. The number is
stored, verified, only once its code is typed (:mod:`sso.accounts.passwordless`); a new
number typed in the profile form stays unverified until then."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import code_requests, otp, passwordless
from sso.core import events
from sso.core.errors import InvalidInput
from sso.web import codes
from sso.web.account_ui import DONE, done, page, read_form
from sso.web.console import require_login
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale
from sso.web.templating import default_locale

router = APIRouter(include_in_schema=False)

DONE.setdefault("phone", "account.done.phone_verified")
DONE.setdefault("email_code", "account.done.email_verified")
DONE.setdefault("email_code_refused", "account.done.email_code_refused")
PURPOSES = {"phone": "verify_phone", "email": "verify_email"}


def _locale(request: Request) -> str:
    return negotiate_locale(request, default=default_locale(request))


def _number_page(
    request: Request,
    number: str = "",
    error: str | None = None,
    params: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db)
        context = {
            "number": number or who.user.phone or "",
            "error": error,
            "error_params": params or {},
            "channels": codes.phone_channels(runtime),
        }
        response = page(request, db, who, "phone.html", "profile", context, status=status)
        db.commit()
        return response


@router.get("/account/phone")
def phone_form(request: Request) -> Response:
    return _number_page(request)


@router.post("/account/phone")
async def phone_send(request: Request) -> Response:
    fields = await read_form(request, ("phone", "channel"))
    return await run_in_threadpool(_phone_send, request, fields["phone"], fields["channel"])


def _phone_send(request: Request, number: str, channel: str) -> Response:
    runtime = runtime_of(request)
    if not codes.phone_channels(runtime) and runtime.settings.env != "dev":
        return _number_page(request, number, "code.unavailable", status=503)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account/phone")
        try:
            sent = passwordless.start_phone_verification(
                db,
                runtime.settings,
                runtime.throttle,
                who.user,
                number,
                channel=channel,
                locale=_locale(request),
                ip=events.current_context().ip,
            )
            db.commit()
        except InvalidInput as exc:
            db.rollback()
            return _number_page(request, number, exc.message, status=400)
        except code_requests.SendRefused as exc:
            db.rollback()
            found = codes.too_many(exc.retry_after)
            return _number_page(request, number, found["error"], found["error_params"], 429)
    target = RedirectResponse(f"/account/phone/code?c={sent.issued.challenge_id}", 303)
    return codes.send_after(target, runtime, sent)


def _code_page(
    request: Request,
    kind: str,
    challenge: str,
    error: str | None = None,
    params: dict[str, object] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db)
        row = otp.get(db, challenge)
        if row is None or row.user_id != who.user.id or row.purpose != PURPOSES[kind]:
            return RedirectResponse(f"/account/{kind}" if kind == "phone" else "/account", 303)
        context = codes.form_context(
            request,
            runtime,
            row,
            action=f"/account/{kind}/code",
            resend_action=f"/account/{kind}/resend",
            error=error,
            error_params=params,
            notice=notice,
        )
        context["kind"] = kind
        response = page(request, db, who, "phone_code.html", "profile", context, status=status)
        db.commit()
        return response


@router.get("/account/phone/code")
def phone_code_form(request: Request, c: str = "") -> Response:
    return _code_page(request, "phone", c[: otp.MAX_CHALLENGE_ID])


@router.get("/account/email/code")
def email_code_form(request: Request, c: str = "") -> Response:
    return _code_page(request, "email", c[: otp.MAX_CHALLENGE_ID])


@router.post("/account/email/send")
async def email_send(request: Request) -> Response:
    await read_form(request, ())
    return await run_in_threadpool(_email_send, request)


def _email_send(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account")
        try:
            sent = passwordless.start_email_verification(
                db,
                runtime.settings,
                runtime.throttle,
                who.user,
                locale=_locale(request),
                ip=events.current_context().ip,
            )
            db.commit()
        except (InvalidInput, code_requests.SendRefused):
            db.rollback()
            return done("/account", "email_code_refused")
    target = RedirectResponse(f"/account/email/code?c={sent.issued.challenge_id}", 303)
    return codes.send_after(target, runtime, sent)


@router.post("/account/{kind}/code")
async def code_check(request: Request, kind: str) -> Response:
    fields = await read_form(request, ("challenge", "code"))
    return await run_in_threadpool(_code_check, request, kind, fields["challenge"], fields["code"])


def _code_check(request: Request, kind: str, challenge: str, code: str) -> Response:
    if kind not in PURPOSES:
        return RedirectResponse("/account", 303)
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account")
        confirm = passwordless.confirm_phone if kind == "phone" else passwordless.confirm_email
        check = confirm(db, runtime.settings, who.user, challenge[: otp.MAX_CHALLENGE_ID], code)
        db.commit()
    if check.ok:
        return done("/account", "phone" if kind == "phone" else "email_code")
    return _code_page(
        request,
        kind,
        challenge,
        codes.CHECK_MESSAGES[check.status],
        {"left": check.attempts_left},
        status=400,
    )


@router.post("/account/{kind}/resend")
async def code_resend(request: Request, kind: str) -> Response:
    fields = await read_form(request, ("challenge", "channel"))
    return await run_in_threadpool(_resend, request, kind, fields["challenge"], fields["channel"])


def _resend(request: Request, kind: str, challenge: str, channel: str) -> Response:
    if kind not in PURPOSES:
        return RedirectResponse("/account", 303)
    runtime = runtime_of(request)
    challenge = challenge[: otp.MAX_CHALLENGE_ID]
    with runtime.sessions() as db:
        who = require_login(request, db, next_path="/account")
        row = otp.get(db, challenge)
        if row is None or row.user_id != who.user.id:
            return RedirectResponse("/account", 303)
        try:
            sent = code_requests.resend(
                db,
                runtime.settings,
                runtime.throttle,
                challenge,
                channel=channel or None,
                locale=_locale(request),
                ip=events.current_context().ip,
            )
            db.commit()
        except otp.ResendTooSoon as exc:
            db.rollback()
            return _code_page(
                request, kind, challenge, "code.resend_wait", {"seconds": exc.seconds}, status=429
            )
        except code_requests.SendRefused as exc:
            db.rollback()
            found = codes.too_many(exc.retry_after)
            return _code_page(
                request, kind, challenge, found["error"], found["error_params"], status=429
            )
    if sent is None:
        return _code_page(request, kind, challenge, "code.used", status=400)
    response = _code_page(request, kind, challenge, notice="code.resent")
    return codes.send_after(response, runtime, sent)
