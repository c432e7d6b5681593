"""Self-service pages: citizen registration, email verification, forgotten password.

``/register`` (GET form, POST), ``/register/verify?token=…``, ``/password/forgot`` (GET, POST)
and ``/password/reset?token=…`` (GET form, POST). Every POST is CSRF-checked; the pages are in
the person's language (Bahasa Indonesia by default, ``?lang=en``), work without JavaScript and
explain each refusal. Mail goes out in a background task after the response (see
:mod:`sso.accounts.mail`), so no answer waits for, or reveals, a mail server's timing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sso.accounts import policy, recovery, registration
from sso.accounts.mail import Mail
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.core.errors import InvalidInput
from sso.oidc.session_end import end_everything_for_user
from sso.web import security, signup_return
from sso.web.app_runtime import AppRuntime
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.load_shedding import checks_password
from sso.web.responses import clear_session_cookie, set_session_cookie
from sso.web.templating import default_locale, render

router = APIRouter(include_in_schema=False)

MAX_FIELD = 1024
REGISTER_FIELDS = ("name", "email", "phone", "password", "password_confirm", "interaction")


def _locale(request: Request) -> str:
    return negotiate_locale(request, default=default_locale(request))


def _send_after(response: Response, runtime: AppRuntime, mails: list[Mail]) -> Response:
    if mails:
        response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response


async def _form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    security.csrf.verify(request, form)
    return {name: str(form.get(name) or "")[:MAX_FIELD] for name in names}


# ----------------------------------------------------------------------------- registration


def _register_page(
    request: Request,
    values: dict[str, str] | None = None,
    errors: dict[str, registration.FieldError] | None = None,
    status: int = 200,
) -> Response:
    shown = {k: v for k, v in (values or {}).items() if k in ("name", "email", "phone")}
    # From an app's login page: the parked request it came from, kept through the form.
    interaction = (values or {}).get("interaction") or request.query_params.get("interaction")
    interaction = interaction[:200] if interaction else None
    return render(
        request,
        "register.html",
        {
            "interaction": interaction,
            "phone_signup": f"/interaction/{interaction}/register" if interaction else None,
            "action": "/register",
            "csrf_token": security.csrf.token_for(request),
            "values": shown,
            "errors": errors or {},
            "min_length": policy.MIN_LENGTH,
            "max_length": policy.MAX_LENGTH,
        },
        status=status,
    )


@router.get("/register")
def register_form(request: Request) -> Response:
    return _register_page(request)


@router.post("/register")
@checks_password
async def register(request: Request) -> Response:
    fields = await _form(request, REGISTER_FIELDS)
    return await run_in_threadpool(_register, request, fields)


def _register(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    reg = registration.Registration(
        name=fields["name"],
        email=fields["email"],
        password=fields["password"],
        phone=fields["phone"] or None,
        locale=_locale(request),
    )
    errors: dict[str, registration.FieldError] = {}
    try:
        registration.validate(reg)
    except registration.RegistrationInvalid as exc:
        errors = {error.field: error for error in exc.errors}
    if "password" not in errors and fields["password"] != fields["password_confirm"]:
        errors["password_confirm"] = registration.FieldError(
            "password_confirm", "password.mismatch"
        )
    if errors:
        return _register_page(request, fields, errors, status=400)
    refused = _register_refused(request, runtime)
    if refused is not None:
        return refused
    with runtime.sessions() as session:
        try:
            outcome = registration.register_citizen(
                session, runtime.password_hasher, runtime.settings, reg
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
    # The same page, word for word, whether an account was made or its owner was notified
    # (from an app: the way back to it either way).
    back, cookie = signup_return.after_email_signup(request, fields["interaction"], outcome.user_id)
    page = render(
        request,
        "register_sent.html",
        {
            "email": fields["email"].strip(),
            "csrf_token": security.csrf.token_for(request),
            "continue_url": back,
            "grace_minutes": runtime.settings.email_verification_grace_minutes,
        },
    )
    if cookie is not None:
        set_session_cookie(page, runtime.settings, cookie)
    if back is not None and outcome.user_id is not None:
        signup_return.remember(request, page, fields["interaction"], outcome.user_id)
    return _send_after(page, runtime, outcome.mails)


def _register_refused(request: Request, runtime: AppRuntime) -> Response | None:
    """Registrations that would hash a password and send a mail count per IP, the same
    whether or not the address has an account (the limit is high: many people register behind
    one public address). Over it: 429 with the wait in words and ``Retry-After``."""
    guard = runtime.throttle
    ip = events.current_context().ip or "unknown"
    limit = guard.limit(runtime.settings.registration_max_requests_ip)
    verdict = guard.hit(guard.key("register_ip", ip), limit)
    if verdict.allowed:
        return None
    minutes = wait_minutes(verdict.retry_after)
    return render(
        request,
        "error.html",
        {"message": "error.wait_minutes", "params": {"minutes": minutes}},
        status=429,
        headers={"Retry-After": str(verdict.retry_after)},
    )


@router.get("/register/verify")
def verify(request: Request, token: str = "") -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            result = registration.verify_email(session, runtime.settings, token[:MAX_FIELD])
            session.commit()
        except BaseException:
            session.rollback()
            raise
    ok = result.status in ("verified", "already")
    back, cookie = (None, None)
    if result.status == "verified" and result.user_id is not None:
        # Registered from an app in this browser: back to it, logged in (issue 15).
        back, cookie = signup_return.after_verification(request, result.user_id)
    page = render(
        request,
        "verified.html",
        {"ok": ok, "already": result.status == "already", "continue_url": back},
        status=200 if ok else 400,
    )
    if cookie is not None:
        set_session_cookie(page, runtime.settings, cookie)
    return page


# ----------------------------------------------------------------------------- forgotten password


def _forgot_page(
    request: Request, email: str = "", error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "forgot.html",
        {
            "action": "/password/forgot",
            "csrf_token": security.csrf.token_for(request),
            "email": email,
            "error": error,
        },
        status=status,
    )


@router.get("/password/forgot")
def forgot_form(request: Request) -> Response:
    return _forgot_page(request)


@router.post("/password/forgot")
async def forgot(request: Request) -> Response:
    fields = await _form(request, ("email",))
    return await run_in_threadpool(_forgot, request, fields["email"])


def _forgot_refused(request: Request, runtime: AppRuntime, email: str) -> Response | None:
    """Every request counts, per IP and per address (the same whether or not it has an
    account), so nobody floods a mailbox or probes addresses by the page's timing."""
    guard = runtime.throttle
    settings = runtime.settings
    ip = events.current_context().ip or "unknown"
    checks = (
        (guard.key("reset_ip", ip), settings.password_reset_max_requests_ip),
        (
            guard.key("reset_email", email.strip().casefold()),
            settings.password_reset_max_requests_email,
        ),
    )
    for key, threshold in checks:
        verdict = guard.hit(key, guard.limit(threshold))
        if not verdict.allowed:
            message = translate(
                _locale(request), "error.wait_minutes", minutes=wait_minutes(verdict.retry_after)
            )
            page = _forgot_page(request, email, message, status=429)
            page.headers["Retry-After"] = str(verdict.retry_after)
            return page
    return None


def _forgot(request: Request, email: str) -> Response:
    runtime = runtime_of(request)
    refused = _forgot_refused(request, runtime, email)
    if refused is not None:
        return refused
    with runtime.sessions() as session:
        try:
            mails = recovery.request_reset(session, runtime.settings, email, _locale(request))
            session.commit()
        except InvalidInput as exc:
            session.rollback()
            return _forgot_page(request, email, exc.message, status=400)
        except BaseException:
            session.rollback()
            raise
    # The same page whether or not the address has an account.
    page = render(request, "forgot_sent.html", {"email": email.strip()})
    return _send_after(page, runtime, mails)


# ----------------------------------------------------------------------------- reset


def _reset_page(
    request: Request,
    token: str,
    kind: str | None,
    error: str | None = None,
    params: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """The new-password form, or (``kind`` None) the "link not valid" page."""
    return render(
        request,
        "reset.html",
        {
            "action": "/password/reset",
            "csrf_token": security.csrf.token_for(request),
            "token": token,
            "valid": kind is not None,
            "min_length": policy.min_length(kind or "citizen"),
            "max_length": policy.MAX_LENGTH,
            "error": error,
            "error_params": params or {},
        },
        status=status,
    )


@router.get("/password/reset")
def reset_form(request: Request, token: str = "") -> Response:
    runtime = runtime_of(request)
    token = token[:MAX_FIELD]
    with runtime.sessions() as session:
        try:
            kind = recovery.check_link(session, runtime.settings, token)
        except recovery.ResetLinkInvalid:
            return _reset_page(request, "", None, status=400)
    return _reset_page(request, token, kind)


@router.post("/password/reset")
@checks_password
async def reset(request: Request) -> Response:
    fields = await _form(request, ("token", "password", "password_confirm"))
    return await run_in_threadpool(_reset, request, fields)


def _reset(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    token = fields["token"]
    kind: str | None = None
    with runtime.sessions() as session:
        try:
            kind = recovery.check_link(session, runtime.settings, token)
            session.rollback()
            if fields["password"] != fields["password_confirm"]:
                return _reset_page(request, token, kind, "password.mismatch", status=400)
            recovery.reset_password(
                session,
                runtime.password_hasher,
                runtime.settings,
                token,
                fields["password"],
                end_everything=lambda db, user_id: end_everything_for_user(
                    db, user_id, reason="password_reset"
                ),
            )
            session.commit()
        except recovery.ResetLinkInvalid:
            session.rollback()
            return _reset_page(request, "", None, status=400)
        except policy.PasswordRefused as exc:
            session.rollback()
            return _reset_page(request, token, kind, exc.message, exc.params, status=400)
        except BaseException:
            session.rollback()
            raise
    page = render(request, "reset_done.html")
    # Every session of the person has ended; this browser's cookie is dead weight now.
    clear_session_cookie(page, runtime.settings)
    return page
