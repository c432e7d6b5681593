"""GET/POST /authorize: validate, then answer at once (SSO) or park the request and send the
person to the interaction pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import sessions as login_sessions
from sso.core.crypto import random_token
from sso.oauth import developer_apps
from sso.oidc import interaction
from sso.oidc.authorize import (
    AuthorizationPageError,
    AuthorizationRedirectError,
    redirect_error,
    validate,
)
from sso.oidc.keys import key_service
from sso.runtime import Runtime
from sso.web.responses import (
    authorization_response,
    browser_cookie,
    session_cookie,
    set_browser_cookie,
)
from sso.web.templating import render

router = APIRouter()


async def _multi_params(request: Request) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    items: Sequence[tuple[str, object]]
    if request.method == "POST":
        form = await request.form()
        items = form.multi_items()
    else:
        items = request.query_params.multi_items()
    for key, value in items:
        if isinstance(value, str):
            multi.setdefault(key, []).append(value)
    return multi


@router.api_route("/authorize", methods=["GET", "POST"], include_in_schema=False)
async def authorize(request: Request) -> Response:
    multi = await _multi_params(request)
    return await run_in_threadpool(_authorize, request, multi)


def error_page(
    request: Request, message: str, status: int = 400, locale: str | None = None
) -> Response:
    return render(request, "error.html", {"message": message}, status=status, locale=locale)


def _authorize(request: Request, multi: Mapping[str, Sequence[str]]) -> Response:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    with runtime.sessions() as session:
        try:
            client, params = validate(session, multi)
            hinted = interaction.hint_subject(session, key_service(runtime), settings, params)
            current = login_sessions.resolve(session, settings, session_cookie(request))
            login_required = interaction.needs_login(settings, params, current, hinted)
            # A session below the level asked for (acr_values=2, or MFA policy) is never
            # answered at once: the person is prompted for the second factor first.
            step_up = (
                not login_required
                and current is not None
                and interaction.needs_second_factor(session, settings, params, current)
            )
            if "none" in params.prompt:
                if login_required or current is None:
                    raise redirect_error(params, "login_required", "the person is not logged in")
                if step_up:
                    raise redirect_error(
                        params, "interaction_required", "a second factor is required"
                    )
                if not developer_apps.may_log_in(session, client, current[1]):
                    raise redirect_error(params, "access_denied", "the app is in development")
                if interaction.needs_consent(session, client, params, current[1].id):
                    raise redirect_error(params, "consent_required", "consent is required")
            if (
                not login_required
                and not step_up
                and current is not None
                # An app in development logs in its owner and admins only; anyone else is
                # told so by the interaction (sso.oidc.interaction.next_step).
                and developer_apps.may_log_in(session, client, current[1])
                and not interaction.needs_consent(session, client, params, current[1].id)
            ):
                result = interaction.issue_code(session, settings, client, params, *current)
                session.commit()
                return authorization_response(request, result)
            browser = browser_cookie(request) or random_token(nbytes=24)
            interaction_id = interaction.park(
                session, settings, params, browser_value=browser, login_required=login_required
            )
            session.commit()
        except AuthorizationPageError as exc:
            session.rollback()
            return error_page(request, exc.message)
        except AuthorizationRedirectError as exc:
            session.rollback()
            result = interaction.error_response(
                settings, exc.redirect_uri, exc.response_mode, exc.state, exc.error, exc.description
            )
            return authorization_response(request, result)
    response = RedirectResponse(f"/interaction/{interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_browser_cookie(response, settings, browser)
    return response
