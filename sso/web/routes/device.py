"""The Device Authorization Grant over HTTP (RFC 8628, ``sso.oauth.device``).

- POST /device_authorization: the device's request (§3.1), a JSON API served like /token.
- GET /device: the page where the person types the user code (``?user_code=`` prefills it,
  §3.3.1, and then asks them to compare it with the device's screen).
- POST /device: look the code up; then the person logs in and consents through the same
  interaction pages as /authorize (SSO session reuse, remembered consent, trusted clients
  skipping it). The parked request carries ``device_code_hash``, so its completion approves the
  device (or a denial refuses it) and sends the browser to /device/done instead of a client.
- GET /device/done: "you can go back to your device" (or why not).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts.throttle import wait_minutes
from sso.core.crypto import random_token
from sso.oauth import device as device_flow
from sso.oidc.entry import begin_device_approval
from sso.oidc.outcomes import Refused
from sso.web import api_docs, security
from sso.web.deps import RuntimeDep, SessionDep, runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.responses import browser_cookie, set_browser_cookie
from sso.web.routes.token import serve_endpoint
from sso.web.templating import default_locale, render

router = APIRouter()

DEVICE_AUTHORIZATION_PATH = "/device_authorization"
SHOWN_CODE_LENGTH = 16  # what the page echoes back of a typed code


@router.post(DEVICE_AUTHORIZATION_PATH, tags=["oauth"], **api_docs.DEVICE_AUTHORIZATION)
async def device_authorization(
    request: Request, runtime: RuntimeDep, session: SessionDep
) -> Response:
    return await serve_endpoint("device_authorization", request, runtime, session)


def _page(
    request: Request,
    user_code: str,
    *,
    error: str | None = None,
    prefilled: bool = False,
    status: int = 200,
) -> Response:
    return render(
        request,
        "device.html",
        {
            "action": device_flow.VERIFICATION_PATH,
            "csrf_token": security.csrf.token_for(request),
            "user_code": user_code[:SHOWN_CODE_LENGTH],
            "error": error,
            "prefilled": prefilled,
        },
        status=status,
    )


@router.get(device_flow.VERIFICATION_PATH, include_in_schema=False)
def device_page(request: Request) -> Response:
    typed = request.query_params.get("user_code", "")
    normalised = device_flow.normalise_user_code(typed)
    if normalised is None:
        return _page(request, typed)
    return _page(request, device_flow.display_user_code(normalised), prefilled=True)


@router.post(device_flow.VERIFICATION_PATH, include_in_schema=False)
async def submit_user_code(request: Request) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    user_code = str(form.get("user_code") or "")[:64]
    return await run_in_threadpool(_submit, request, user_code)


def _submit(request: Request, user_code: str) -> Response:
    runtime = runtime_of(request)
    browser = browser_cookie(request) or random_token(nbytes=24)
    with runtime.sessions() as session:
        outcome = begin_device_approval(
            session,
            runtime.settings,
            runtime.throttle,
            user_code,
            browser_value=browser,
            display_code=_shown(user_code),
        )
    if isinstance(outcome, Refused):
        message = outcome.message
        if outcome.retry_after:
            locale = negotiate_locale(request, default=default_locale(request))
            message = translate(locale, message, minutes=wait_minutes(outcome.retry_after))
        response = _page(request, user_code, error=message, status=outcome.status)
        if outcome.retry_after:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    response = RedirectResponse(f"/interaction/{outcome.interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_browser_cookie(response, runtime.settings, browser)
    return response


def _shown(user_code: str) -> str | None:
    """The accepted code as the device shows it (``ABCD-EFGH``), for the consent page."""
    normalised = device_flow.normalise_user_code(user_code)
    return device_flow.display_user_code(normalised) if normalised else None


@router.get(device_flow.DONE_PATH, include_in_schema=False)
def device_done(request: Request) -> Response:
    error = request.query_params.get("error")
    outcome = "approved" if error is None else "denied" if error == "access_denied" else "expired"
    return render(request, "device_done.html", {"outcome": outcome})
