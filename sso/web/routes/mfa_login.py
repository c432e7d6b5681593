"""The second factor inside a login interaction: a TOTP or recovery code, TOTP enrolment for a
person who must have a factor and has none, and passkeys (second factor, or a login without
password from the login page). The rules are :mod:`sso.oidc.second_factor`'s; these routes
read the request and draw the outcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts.throttle import wait_minutes
from sso.oidc import second_factor
from sso.oidc.outcomes import Proceed, Refused, WrongStep
from sso.web import security
from sso.web.i18n import translate
from sso.web.interaction_pages import InteractionPage, with_interaction
from sso.web.responses import set_session_cookie
from sso.web.routes import mfa_pages
from sso.web.routes.interaction import MAX_FIELD

router = APIRouter(include_in_schema=False)
MAX_JSON = 64 * 1024


# ---------------------------------------------------------------------- TOTP / recovery code
@router.post("/interaction/{interaction_id}/mfa")
async def verify_code(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    method = str(form.get("method") or "")[:20]
    code = str(form.get("code") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _verify_code(page, method, code)
    )


def _verify_code(page: InteractionPage, method: str, code: str) -> Response:
    user = page.ia.next().user
    outcome = second_factor.submit_code(
        page.ia, page.runtime.throttle, page.runtime.encryptor, method, code
    )
    if isinstance(outcome, WrongStep) or user is None:
        return page.proceed()
    if isinstance(outcome, Refused):
        return page.refused(
            outcome,
            page.mfa_page(user, page.message(outcome), method=method, status=outcome.status),
        )
    return page.back(outcome)


# ---------------------------------------------------------------------- enrolment at login
@router.post("/interaction/{interaction_id}/enrol")
async def enrol(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    code = str(form.get("code") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _enrol(page, code)
    )


def _enrol(page: InteractionPage, code: str) -> Response:
    user = page.ia.next().user
    outcome = second_factor.confirm_enrolment(page.ia, page.runtime.encryptor, code)
    if isinstance(outcome, WrongStep) or user is None:
        return page.proceed()
    if isinstance(outcome, Refused):
        return page.enrol_page(user, outcome.message, status=outcome.status)
    if not outcome.recovery_codes:
        return page.back(outcome)
    response: Response = mfa_pages.recovery_codes_page(
        page.request,
        list(outcome.recovery_codes),
        continue_url=page.here,
        locale=page.locale,
        enrolled=True,
    )
    if outcome.session_cookie:
        set_session_cookie(response, page.settings, outcome.session_cookie)
    return response


# ---------------------------------------------------------------------- passkeys
async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_JSON:
        return {}
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_error(
    locale: str, key: str, status: int = 400, *, retry_after: int = 0, **extra: str
) -> Response:
    headers = {"Cache-Control": "no-store"}
    message = translate(locale, key)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
        message = translate(locale, key, minutes=wait_minutes(retry_after))
    return JSONResponse(
        {"error": key, "message": message, **extra},
        status_code=status,
        headers=headers,
    )


def _json_outcome(page: InteractionPage, outcome: Proceed | Refused | WrongStep) -> Response:
    if isinstance(outcome, WrongStep):
        return _json_error(page.locale, "mfa.passkey_failed", redirect=page.here)
    if isinstance(outcome, Refused):
        return _json_error(
            page.locale, outcome.message, outcome.status, retry_after=outcome.retry_after
        )
    response = JSONResponse({"redirect": page.here}, headers={"Cache-Control": "no-store"})
    if outcome.session_cookie:
        set_session_cookie(response, page.settings, outcome.session_cookie)
    return response


def _json_context(
    request: Request, interaction_id: str, action: Callable[[InteractionPage], Response]
) -> Response:
    response = with_interaction(request, interaction_id, action)
    if response.media_type == "text/html":  # the interaction is gone: say so as JSON
        return _json_error("id", "error.interaction_expired", status=400)
    return response


@router.post("/interaction/{interaction_id}/passkey/options")
async def passkey_options(request: Request, interaction_id: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(_json_context, request, interaction_id, _passkey_options)


def _passkey_options(page: InteractionPage) -> Response:
    challenge = second_factor.passkey_options(page.ia)
    if isinstance(challenge, WrongStep):
        return _json_outcome(page, challenge)
    return JSONResponse(
        {"handle": challenge.handle, "options": challenge.options},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/interaction/{interaction_id}/passkey")
async def passkey_finish(request: Request, interaction_id: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(
        _json_context,
        request,
        interaction_id,
        lambda page: _json_outcome(
            page,
            second_factor.passkey_finish(
                page.ia, page.runtime.throttle, body.get("handle"), body.get("credential")
            ),
        ),
    )
