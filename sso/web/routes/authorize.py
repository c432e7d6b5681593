"""GET/POST /authorize: the service (:func:`sso.oidc.entry.begin_authorization`) answers at
once (SSO) or parks the request; a parked one sends the person to the interaction pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.core.crypto import random_token
from sso.oidc.entry import ErrorPage, begin_authorization
from sso.oidc.outcomes import Answer
from sso.web.deps import runtime_of
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
    runtime = runtime_of(request)
    settings = runtime.settings
    browser = browser_cookie(request) or random_token(nbytes=24)
    with runtime.sessions() as session:
        outcome = begin_authorization(
            session,
            settings,
            runtime.keys,
            multi,
            session_cookie_value=session_cookie(request),
            browser_value=browser,
        )
    if isinstance(outcome, ErrorPage):
        return error_page(request, outcome.message)
    if isinstance(outcome, Answer):
        return authorization_response(request, outcome.response)
    response = RedirectResponse(f"/interaction/{outcome.interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_browser_cookie(response, settings, browser)
    return response
