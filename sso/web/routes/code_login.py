"""Login by a one-time code inside a parked authorization request: a citizen types a verified
mobile number (the code goes by WhatsApp or SMS) or a verified email address, then the code;
the interaction goes on as after a password (:func:`sso.oidc.login.continue_after_authentication`:
second factor when owed, consent, back to the app).

``/interaction/{id}/code`` (the number or address), ``/interaction/{id}/code/{challenge}``
(the code; ``…/resend`` sends a new one). A challenge belongs to the interaction it was asked
for: another interaction's challenge id is refused like an expired code. The pages answer the
same for numbers and addresses without an account (nothing is sent to those).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import code_requests, otp, passwordless
from sso.core import events
from sso.core.crypto import keyed_hash
from sso.core.errors import InvalidInput
from sso.db.models import OneTimeCode
from sso.oidc import login
from sso.oidc.outcomes import Proceed
from sso.web import codes, security
from sso.web.interaction_pages import InteractionPage, with_interaction

router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024


def bound(page: InteractionPage) -> str:
    """What ties a challenge to this interaction (a keyed hash of its id)."""
    return keyed_hash(page.settings.secret_key_bytes(), page.ia.interaction_id, "code_ia")


def challenge_of(page: InteractionPage, challenge: str, purpose: str) -> OneTimeCode | None:
    row = otp.get(page.ia.session, challenge)
    if row is None or row.purpose != purpose or (row.data or {}).get("ia") != bound(page):
        return None
    return row


def amr_of(channel: str) -> list[str]:
    """RFC 8176: ``sms`` for a code by SMS, ``otp`` for one by WhatsApp or mail."""
    return ["sms"] if channel == "sms" else ["otp"]


def code_page(
    page: InteractionPage,
    row: OneTimeCode,
    base: str,
    *,
    title: str,
    error: str | None = None,
    params: dict[str, object] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    context = codes.form_context(
        page.request,
        page.runtime,
        row,
        action=base,
        resend_action=f"{base}/resend",
        error=error,
        error_params=params,
        notice=notice,
    )
    context.update(title=title, back=page.here)
    return page.page("interaction_code.html", context, status=status)


async def _form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    security.csrf.verify(request, form)
    return {name: str(form.get(name) or "")[:MAX_FIELD] for name in names}


# ----------------------------------------------------------------------------- asking


def _ask_page(
    page: InteractionPage,
    value: str = "",
    error: str | None = None,
    params: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    return page.page(
        "code_login.html",
        {
            "action": f"{page.here}/code",
            "csrf_token": security.csrf.token_for(page.request),
            "value": value,
            "channels": codes.phone_channels(page.runtime),
            "error": error,
            "error_params": params or {},
            "back": page.here,
            "register": f"{page.here}/register",
        },
        status=status,
    )


@router.get("/interaction/{interaction_id}/code")
async def ask(request: Request, interaction_id: str) -> Response:
    return await run_in_threadpool(with_interaction, request, interaction_id, _ask_page)


@router.post("/interaction/{interaction_id}/code")
async def send(request: Request, interaction_id: str) -> Response:
    fields = await _form(request, ("identifier", "channel"))
    return await run_in_threadpool(
        with_interaction,
        request,
        interaction_id,
        lambda page: _send(page, fields["identifier"], fields["channel"]),
    )


def _send(page: InteractionPage, identifier: str, channel: str) -> Response:
    session = page.ia.session
    try:
        sent = passwordless.start_login(
            session,
            page.settings,
            page.runtime.throttle,
            identifier,
            channel=channel,
            locale=page.locale,
            ip=events.current_context().ip,
            data={"ia": bound(page)},
        )
    except InvalidInput:
        session.rollback()
        return _ask_page(page, identifier, "code.identifier_invalid", status=400)
    except code_requests.SendRefused as exc:
        session.rollback()
        found = codes.too_many(exc.retry_after)
        response = _ask_page(page, identifier, found["error"], found["error_params"], 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    session.commit()
    target = RedirectResponse(f"{page.here}/code/{sent.issued.challenge_id}", 303)
    return codes.send_after(target, page.runtime, sent)


# ----------------------------------------------------------------------------- the code


@router.get("/interaction/{interaction_id}/code/{challenge}")
async def code_form(request: Request, interaction_id: str, challenge: str) -> Response:
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _code_form(page, challenge)
    )


def _code_form(page: InteractionPage, challenge: str) -> Response:
    row = challenge_of(page, challenge, "login")
    if row is None:
        return RedirectResponse(f"{page.here}/code", 303)
    return code_page(page, row, f"{page.here}/code/{challenge}", title="code.login_title")


@router.post("/interaction/{interaction_id}/code/{challenge}")
async def check(request: Request, interaction_id: str, challenge: str) -> Response:
    fields = await _form(request, ("code",))
    return await run_in_threadpool(
        with_interaction,
        request,
        interaction_id,
        lambda page: _check(page, challenge, fields["code"]),
    )


def _check(page: InteractionPage, challenge: str, code: str) -> Response:
    session = page.ia.session
    row = challenge_of(page, challenge, "login")
    if row is None:
        return RedirectResponse(f"{page.here}/code", 303)
    base = f"{page.here}/code/{challenge}"
    result, user = passwordless.finish_login(session, page.settings, challenge, code)
    session.commit()
    if user is None:
        return code_page(
            page,
            row,
            base,
            title="code.login_title",
            error=codes.CHECK_MESSAGES[result.status],
            params={"left": result.attempts_left},
            status=400,
        )
    outcome = login.continue_after_authentication(
        page.ia, user, amr=amr_of(row.channel), method=f"code_{row.channel}"
    )
    if isinstance(outcome, Proceed):
        return page.back(outcome)
    return code_page(
        page, row, base, title="code.login_title", error=outcome.message, status=outcome.status
    )


@router.post("/interaction/{interaction_id}/{kind}/{challenge}/resend")
async def resend(request: Request, interaction_id: str, kind: str, challenge: str) -> Response:
    fields = await _form(request, ("channel",))
    return await run_in_threadpool(
        with_interaction,
        request,
        interaction_id,
        lambda page: _resend(page, kind, challenge, fields["channel"]),
    )


def _resend(page: InteractionPage, kind: str, challenge: str, channel: str) -> Response:
    purposes = {
        "code": ("login", "code.login_title"),
        "register": ("register", "code.register_title"),
    }
    if kind not in purposes:
        return RedirectResponse(page.here, 303)
    purpose, title = purposes[kind]
    session = page.ia.session
    row = challenge_of(page, challenge, purpose)
    if row is None:
        return RedirectResponse(f"{page.here}/{kind}", 303)
    base = f"{page.here}/{kind}/{challenge}"
    try:
        sent = code_requests.resend(
            session,
            page.settings,
            page.runtime.throttle,
            challenge,
            channel=channel or None,
            locale=page.locale,
            ip=events.current_context().ip,
        )
        session.commit()
    except otp.ResendTooSoon as exc:
        session.rollback()
        return code_page(
            page,
            row,
            base,
            title=title,
            error="code.resend_wait",
            params={"seconds": exc.seconds},
            status=429,
        )
    except code_requests.SendRefused as exc:
        session.rollback()
        found = codes.too_many(exc.retry_after)
        return code_page(
            page,
            row,
            base,
            title=title,
            error=found["error"],
            params=found["error_params"],
            status=429,
        )
    if sent is None:
        return code_page(page, row, base, title=title, error="code.used", status=400)
    session.refresh(row)
    response = code_page(page, row, base, title=title, notice="code.resent")
    return codes.send_after(response, page.runtime, sent)
