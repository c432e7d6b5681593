"""The login and consent pages of a parked authorization request, and its completion. The
rules are the services' (:mod:`sso.oidc.login`); these routes read the form and draw the
outcome (:mod:`sso.web.interaction_pages`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sso.oidc import login
from sso.oidc.outcomes import Refused, WrongStep
from sso.web import security
from sso.web.interaction_pages import InteractionPage, with_interaction
from sso.web.load_shedding import checks_password

router = APIRouter(include_in_schema=False)

MAX_FIELD = 1024


@router.get("/interaction/{interaction_id}")
async def show(request: Request, interaction_id: str) -> Response:
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: page.proceed()
    )


@router.post("/interaction/{interaction_id}/login")
@checks_password
async def login_form(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    username = str(form.get("username") or "")[:MAX_FIELD]
    password = str(form.get("password") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _login(page, username, password)
    )


def _login(page: InteractionPage, username: str, password: str) -> Response:
    outcome = login.submit_password(
        page.ia, page.runtime.password_hasher, page.runtime.throttle, username, password
    )
    if isinstance(outcome, Refused):
        return page.refused(
            outcome, page.login_page(page.message(outcome), username, status=outcome.status)
        )
    return page.back(outcome)


@router.post("/interaction/{interaction_id}/consent")
async def consent(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    allow = str(form.get("decision") or "") == "allow"
    return await run_in_threadpool(
        with_interaction, request, interaction_id, lambda page: _consent(page, allow)
    )


def _consent(page: InteractionPage, allow: bool) -> Response:
    outcome = login.submit_consent(page.ia, allow)
    if isinstance(outcome, WrongStep):
        return page.proceed()
    return page.answer(outcome)


@router.post("/interaction/{interaction_id}/abort")
async def abort(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    return await run_in_threadpool(
        with_interaction,
        request,
        interaction_id,
        lambda page: page.answer(login.abort(page.ia)),
    )
