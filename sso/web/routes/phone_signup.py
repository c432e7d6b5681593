"""Registration with a mobile number inside a parked authorization request
(``/interaction/{id}/register``): name, number (email optional), WhatsApp or SMS; then the code
(``/interaction/{id}/register/{challenge}``, "Kirim ulang" at ``…/resend``); then the new
citizen is logged in and the interaction goes on to the app they came from. A number that
already has an account logs its owner in instead (they proved it). An email given here gets a
verification link; until it is verified the account logs in by its number.

The hotspot portal sends new citizens here with OpenID Connect ``prompt=create``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sso.accounts import code_requests, messages, passwordless, registration
from sso.accounts.registration import FieldError, RegistrationInvalid
from sso.core import events
from sso.oidc import login
from sso.oidc.outcomes import Proceed
from sso.web import codes, security
from sso.web.interaction_pages import InteractionPage, with_interaction
from sso.web.load_shedding import checks_password
from sso.web.routes.code_login import amr_of, bound, challenge_of, code_page

router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024
FIELDS = ("name", "phone", "email", "channel")


def _form_page(
    page: InteractionPage,
    values: dict[str, str] | None = None,
    errors: dict[str, FieldError] | None = None,
    error: str | None = None,
    params: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    return page.page(
        "phone_signup.html",
        {
            "action": f"{page.here}/register",
            "csrf_token": security.csrf.token_for(page.request),
            "values": values or {},
            "errors": errors or {},
            "error": error,
            "error_params": params or {},
            "channels": codes.phone_channels(page.runtime),
            "login": f"{page.here}?login=1",
            "email_signup": f"/register?interaction={page.ia.interaction_id}",
        },
        status=status,
    )


@router.get("/interaction/{interaction_id}/register")
async def form(request: Request, interaction_id: str) -> Response:
    return await run_in_threadpool(with_interaction, request, interaction_id, _form_page)


@router.post("/interaction/{interaction_id}/register")
async def start(request: Request, interaction_id: str) -> Response:
    raw = await request.form()
    security.csrf.verify(request, raw)
    fields = {name: str(raw.get(name) or "")[:MAX_FIELD] for name in FIELDS}
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _start(page, fields)
    )


def _start(page: InteractionPage, fields: dict[str, str]) -> Response:
    session = page.ia.session
    if not codes.phone_channels(page.runtime) and page.settings.env != "dev":
        return _form_page(page, fields, error="code.unavailable", status=503)
    reg = passwordless.PhoneRegistration(
        fields["name"], fields["phone"], fields["email"], fields["channel"], page.locale
    )
    try:
        sent = passwordless.start_registration(
            session,
            page.settings,
            page.runtime.throttle,
            reg,
            ip=events.current_context().ip,
            extra={"ia": bound(page)},
        )
    except RegistrationInvalid as exc:
        session.rollback()
        return _form_page(page, fields, {e.field: e for e in exc.errors}, status=400)
    except code_requests.SendRefused as exc:
        session.rollback()
        found = codes.too_many(exc.retry_after)
        response = _form_page(
            page, fields, error=found["error"], params=found["error_params"], status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    session.commit()
    target = RedirectResponse(f"{page.here}/register/{sent.issued.challenge_id}", 303)
    return codes.send_after(target, page.runtime, sent)


@router.get("/interaction/{interaction_id}/register/{challenge}")
async def code_form(request: Request, interaction_id: str, challenge: str) -> Response:
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _code_form(page, challenge)
    )


def _code_form(page: InteractionPage, challenge: str) -> Response:
    row = challenge_of(page, challenge, "register")
    if row is None:
        return RedirectResponse(f"{page.here}/register", 303)
    return code_page(page, row, f"{page.here}/register/{challenge}", title="code.register_title")


@router.post("/interaction/{interaction_id}/register/{challenge}")
@checks_password
async def check(request: Request, interaction_id: str, challenge: str) -> Response:
    raw = await request.form()
    security.csrf.verify(request, raw)
    code = str(raw.get("code") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _check(page, challenge, code)
    )


def _check(page: InteractionPage, challenge: str, code: str) -> Response:
    session = page.ia.session
    row = challenge_of(page, challenge, "register")
    if row is None:
        return RedirectResponse(f"{page.here}/register", 303)
    base = f"{page.here}/register/{challenge}"
    result, done = passwordless.finish_registration(session, page.settings, challenge, code)
    mails = []
    if done is not None and done.email_to_verify and done.user.email:
        link = registration.issue_verification(session, page.settings, done.user)
        mails.append(
            messages.verification_mail(
                page.locale, done.user.email, done.user.display_name, link, 24
            )
        )
    session.commit()
    if done is None:
        return code_page(
            page,
            row,
            base,
            title="code.register_title",
            error=codes.CHECK_MESSAGES[result.status],
            params={"left": result.attempts_left},
            status=400,
        )
    outcome = login.continue_after_authentication(
        page.ia, done.user, amr=amr_of(row.channel), method=f"signup_{row.channel}"
    )
    if not isinstance(outcome, Proceed):
        return code_page(
            page,
            row,
            base,
            title="code.register_title",
            error=outcome.message,
            status=outcome.status,
        )
    response = page.back(outcome)
    if mails:
        response.background = BackgroundTask(page.runtime.mailer.deliver, mails)
    return response
