"""Logging in through an upstream identity provider: the button's start, the callback, and
the one page a person may have to answer (prove the local account, or fill in missing
fields) before the parked authorization request resumes.

Every refusal (the upstream said no, is down, or answered with a token we do not trust) is a
readable page with a way back and an audit event; nothing is created or linked then.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.core.errors import Conflict, InvalidInput
from sso.db.models import User
from sso.federation import flow, linking
from sso.federation.metadata import UpstreamUnavailable
from sso.oidc import interaction, login
from sso.oidc.outcomes import Refused
from sso.runtime import Runtime
from sso.storage import upstreams as upstream_repo
from sso.web.deps import runtime_of
from sso.web.responses import browser_cookie, session_cookie, set_session_cookie
from sso.web.templating import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
MAX_FIELD = 1024
ACCOUNT_IDENTITIES = "/account/identities"

# The page of a failed round trip, by kind.
FAILURE_MESSAGES = {
    "refused": "upstream.error.refused",
    "unavailable": "upstream.error.unavailable",
    "bad_token": "upstream.error.bad_token",
}


def back_link(interaction_id: str | None, purpose: str) -> tuple[str, str]:
    if purpose == "link":
        return ACCOUNT_IDENTITIES, "upstream.back_to_account"
    if interaction_id:
        return f"/interaction/{interaction_id}", "upstream.back_to_login"
    return "/", "upstream.back_home"


def failure_page(
    request: Request,
    message: str,
    link: tuple[str, str],
    *,
    status: int = 400,
    params: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "error.html",
        {
            "title": "upstream.error.title",
            "message": message,
            "params": params or {},
            "link": link,
        },
        status=status,
    )


def expired(request: Request) -> Response:
    return failure_page(request, "upstream.error.expired", ("/", "upstream.back_home"))


# ---------------------------------------------------------------------------- start


@router.get("/upstreams/{slug}/start")
def start(request: Request, slug: str) -> Response:
    runtime = runtime_of(request)
    browser = browser_cookie(request)
    interaction_id = request.query_params.get("interaction") or ""
    with runtime.sessions() as session:
        try:
            interaction.open_interaction(
                session,
                runtime.settings,
                interaction_id,
                browser_value=browser,
                session_cookie_value=None,
            )
        except interaction.InteractionExpired:
            return expired(request)
        upstream = upstream_repo.get_by_slug(session, slug)
        back = back_link(interaction_id, "login")
        if upstream is None or not upstream.enabled or browser is None:
            return failure_page(request, "upstream.error.unknown", back, status=404)
        try:
            url = flow.start(
                session,
                runtime.settings,
                runtime.encryptor,
                runtime.upstream_metadata,
                upstream,
                browser,
                purpose="login",
                interaction_id=interaction_id,
                locale=request.query_params.get("lang"),
            )
        except UpstreamUnavailable as exc:
            session.rollback()
            log.warning("upstream %s unavailable: %s", slug, exc)
            linking.refused(session, None, f"unavailable: {exc}", slug=slug)
            session.commit()
            return failure_page(
                request,
                "upstream.error.unavailable",
                back,
                status=502,
                params={"name": upstream.name},
            )
        session.commit()
    return see_other(url)


def see_other(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- callback


@router.get("/upstreams/{slug}/callback")
def callback(request: Request, slug: str) -> Response:
    runtime = runtime_of(request)
    browser = browser_cookie(request)
    query = {k: v[:4096] for k, v in request.query_params.items()}
    with runtime.sessions() as session:
        try:
            verified = flow.callback(
                session,
                runtime.settings,
                runtime.encryptor,
                runtime.upstream_metadata,
                slug,
                query,
                browser,
            )
        except flow.FlowExpired:
            session.rollback()
            return expired(request)
        except flow.RoundTripFailed as exc:
            log.warning("upstream %s round trip failed: %s", slug, exc)
            linking.refused(session, None, f"{exc.kind}: {exc.reason}", slug=slug)
            session.commit()  # the state is used up, with the refusal's event
            upstream = upstream_repo.get_by_slug(session, slug)
            return failure_page(
                request,
                FAILURE_MESSAGES[exc.kind],
                back_link(exc.interaction_id, exc.purpose),
                status=403 if exc.kind != "unavailable" else 502,
                params={"name": upstream.name if upstream else slug},
            )
        assert browser is not None  # flow.callback checked the binding
        if verified.purpose == "link":
            return _link_from_console(request, session, runtime, verified)
        return _after_login(request, session, runtime, verified, browser)


def _after_login(
    request: Request, session: Session, runtime: Runtime, verified: flow.Verified, browser: str
) -> Response:
    decision = linking.decide(session, verified)
    back = back_link(verified.interaction_id, "login")
    if decision.kind == "refused":
        linking.refused(session, verified, decision.reason or "refused", user=decision.user)
        session.commit()
        return failure_page(
            request,
            decision.reason or "upstream.refused",
            back,
            status=403,
            params={"name": verified.upstream.name},
        )
    if decision.kind in ("prove", "complete_profile"):
        token = flow.park_answer(
            session,
            runtime.settings,
            runtime.encryptor,
            verified,
            browser,
            stage="prove" if decision.kind == "prove" else "complete_profile",
            user_id=decision.user.id if decision.user else None,
        )
        session.commit()
        return see_other(f"/upstreams/continue/{token}")
    user = decision.user
    if user is None:  # a new citizen with every field the upstream gave
        try:
            user = linking.create_citizen(session, runtime.settings, runtime.encryptor, verified)
        except (InvalidInput, Conflict) as exc:
            session.rollback()
            log.info("federated sign-up refused: %s", exc.detail)
            return failure_page(request, exc.message, back, status=400)
    return resume(request, session, runtime, verified, user, amr=["fed"], acr="1")


def resume(
    request: Request,
    session: Session,
    runtime: Runtime,
    verified: flow.Verified,
    user: User,
    *,
    amr: list[str],
    acr: str,
) -> Response:
    """The person is known: the federated login's bookkeeping, then the parked authorization
    request continues through :func:`sso.oidc.login.continue_after_authentication` (account
    rules, a second factor when the policy asks, the login session). Commits."""
    settings = runtime.settings
    interaction_id = verified.interaction_id or ""
    try:
        ia = interaction.open_interaction(
            session,
            settings,
            interaction_id,
            browser_value=browser_cookie(request),
            session_cookie_value=session_cookie(request),
        )
    except interaction.InteractionExpired:
        session.rollback()
        return expired(request)
    linking.logged_in(session, settings, runtime.encryptor, verified, user)
    outcome = login.continue_after_authentication(
        ia,
        user,
        amr=amr,
        acr=acr,
        method=f"upstream:{verified.upstream.slug}",
        idp=verified.upstream.issuer,
    )
    if isinstance(outcome, Refused):  # a disabled account: nothing was linked or logged in
        return failure_page(
            request,
            outcome.message,
            back_link(interaction_id, "login"),
            status=outcome.status,
            params={"name": verified.upstream.name},
        )
    target = see_other(f"/interaction/{interaction_id}")
    if outcome.session_cookie:
        set_session_cookie(target, settings, outcome.session_cookie)
    return target


def _link_from_console(
    request: Request, session: Session, runtime: Runtime, verified: flow.Verified
) -> Response:
    current = login_sessions.resolve(session, runtime.settings, session_cookie(request))
    back = (ACCOUNT_IDENTITIES, "upstream.back_to_account")
    if current is None or current[1].id != verified.user_id:
        session.rollback()
        return expired(request)
    user = current[1]
    existing = upstream_repo.find_identity(session, verified.upstream.id, verified.subject)
    if existing is not None and existing.user_id == user.id:
        session.commit()
        return see_other(f"{ACCOUNT_IDENTITIES}?done=linked")
    why = linking.may_use(verified, user)
    if why is not None:
        linking.refused(session, verified, why, user=user)
        session.commit()
        return failure_page(request, why, back, status=403, params={"name": verified.upstream.name})
    try:
        linking.link(session, runtime.settings, runtime.encryptor, verified, user, proof="session")
    except Conflict as exc:
        session.rollback()
        linking.refused(session, verified, exc.detail or exc.message, user=user)
        session.commit()
        return failure_page(
            request, exc.message, back, status=409, params={"name": verified.upstream.name}
        )
    session.commit()
    return see_other(f"{ACCOUNT_IDENTITIES}?done=linked")
