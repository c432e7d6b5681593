"""Logging in through an upstream identity provider: the button's start, the callback, and
the one page a person may have to answer (prove the local account, or fill in missing
fields) before the parked authorization request resumes.

Every refusal (the upstream said no, is down, or answered with a token we do not trust) is a
readable page with a way back and an audit event; nothing is created or linked then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.accounts.service import AuthenticationFailed, authenticate
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.core.errors import Conflict, InvalidInput
from sso.db.models import User
from sso.federation import flow, linking, metadata
from sso.federation.metadata import MetadataCache, UpstreamUnavailable
from sso.oidc import interaction, login
from sso.oidc.outcomes import Refused
from sso.runtime import Runtime
from sso.storage import upstreams as upstream_repo
from sso.storage import users as user_repo
from sso.web import security
from sso.web.i18n import negotiate_locale, translate
from sso.web.responses import browser_cookie, session_cookie, set_session_cookie
from sso.web.routes.interaction import password_hasher, throttle
from sso.web.templating import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
MAX_FIELD = 1024
ACCOUNT_IDENTITIES = "/account/identities"

# The proof page's message when the password was right but the account may not log in.
PROOF_REFUSALS = {
    "unverified": "upstream.prove.unverified",
    "disabled": "login.account_disabled",
}

# The page of a failed round trip, by kind.
FAILURE_MESSAGES = {
    "refused": "upstream.error.refused",
    "unavailable": "upstream.error.unavailable",
    "bad_token": "upstream.error.bad_token",
}


def metadata_cache(runtime: Runtime) -> MetadataCache:
    return metadata.for_runtime(runtime)


def _back(interaction_id: str | None, purpose: str) -> tuple[str, str]:
    if purpose == "link":
        return ACCOUNT_IDENTITIES, "upstream.back_to_account"
    if interaction_id:
        return f"/interaction/{interaction_id}", "upstream.back_to_login"
    return "/", "upstream.back_home"


def failure_page(request: Request, message: str, link: tuple[str, str], *,
                 status: int = 400, params: dict[str, Any] | None = None) -> Response:
    return render(request, "error.html", {
        "title": "upstream.error.title", "message": message, "params": params or {},
        "link": link,
    }, status=status)


def expired(request: Request) -> Response:
    return failure_page(request, "upstream.error.expired", ("/", "upstream.back_home"))


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# ---------------------------------------------------------------------------- start


@router.get("/upstreams/{slug}/start")
def start(request: Request, slug: str) -> Response:
    runtime = _runtime(request)
    browser = browser_cookie(request)
    interaction_id = request.query_params.get("interaction") or ""
    with runtime.sessions() as session:
        try:
            interaction.open_interaction(session, runtime.settings, interaction_id,
                                         browser_value=browser, session_cookie_value=None)
        except interaction.InteractionExpired:
            return expired(request)
        upstream = upstream_repo.get_by_slug(session, slug)
        back = _back(interaction_id, "login")
        if upstream is None or not upstream.enabled or browser is None:
            return failure_page(request, "upstream.error.unknown", back, status=404)
        try:
            url = flow.start(session, runtime.settings, runtime.encryptor,
                             metadata_cache(runtime), upstream, browser, purpose="login",
                             interaction_id=interaction_id, locale=request.query_params.get("lang"))
        except UpstreamUnavailable as exc:
            session.rollback()
            log.warning("upstream %s unavailable: %s", slug, exc)
            linking.refused(session, None, f"unavailable: {exc}", slug=slug)
            session.commit()
            return failure_page(request, "upstream.error.unavailable", back, status=502,
                                params={"name": upstream.name})
        session.commit()
    return _redirect(url)


def _redirect(url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- callback


@router.get("/upstreams/{slug}/callback")
def callback(request: Request, slug: str) -> Response:
    runtime = _runtime(request)
    browser = browser_cookie(request)
    query = {k: v[:4096] for k, v in request.query_params.items()}
    with runtime.sessions() as session:
        try:
            verified = flow.callback(session, runtime.settings, runtime.encryptor,
                                     metadata_cache(runtime), slug, query, browser)
        except flow.FlowExpired:
            session.rollback()
            return expired(request)
        except flow.RoundTripFailed as exc:
            log.warning("upstream %s round trip failed: %s", slug, exc)
            linking.refused(session, None, f"{exc.kind}: {exc.reason}", slug=slug)
            session.commit()  # the state is used up, with the refusal's event
            upstream = upstream_repo.get_by_slug(session, slug)
            return failure_page(request, FAILURE_MESSAGES[exc.kind],
                                _back(exc.interaction_id, exc.purpose),
                                status=403 if exc.kind != "unavailable" else 502,
                                params={"name": upstream.name if upstream else slug})
        assert browser is not None  # flow.callback checked the binding
        if verified.purpose == "link":
            return _link_from_console(request, session, runtime, verified)
        return _after_login(request, session, runtime, verified, browser)


def _after_login(request: Request, session: Session, runtime: Runtime,
                 verified: flow.Verified, browser: str) -> Response:
    decision = linking.decide(session, verified)
    back = _back(verified.interaction_id, "login")
    if decision.kind == "refused":
        linking.refused(session, verified, decision.reason or "refused", user=decision.user)
        session.commit()
        return failure_page(request, decision.reason or "upstream.refused", back, status=403,
                            params={"name": verified.upstream.name})
    if decision.kind in ("prove", "complete_profile"):
        token = flow.park_answer(session, runtime.settings, runtime.encryptor, verified, browser,
                                 stage="prove" if decision.kind == "prove" else
                                 "complete_profile",
                                 user_id=decision.user.id if decision.user else None)
        session.commit()
        return _redirect(f"/upstreams/continue/{token}")
    user = decision.user
    if user is None:  # a new citizen with every field the upstream gave
        try:
            user = linking.create_citizen(session, runtime.settings, runtime.encryptor, verified)
        except (InvalidInput, Conflict) as exc:
            session.rollback()
            log.info("federated sign-up refused: %s", exc.detail)
            return failure_page(request, exc.message, back, status=400)
    return resume(request, session, runtime, verified, user, amr=["fed"], acr="1")


def resume(request: Request, session: Session, runtime: Runtime, verified: flow.Verified,
           user: User, *, amr: list[str], acr: str) -> Response:
    """The person is known: the federated login's bookkeeping, then the parked authorization
    request continues through :func:`sso.oidc.login.continue_after_authentication` (account
    rules, a second factor when the policy asks, the login session). Commits."""
    settings = runtime.settings
    interaction_id = verified.interaction_id or ""
    try:
        ia = interaction.open_interaction(
            session, settings, interaction_id, browser_value=browser_cookie(request),
            session_cookie_value=session_cookie(request))
    except interaction.InteractionExpired:
        session.rollback()
        return expired(request)
    linking.logged_in(session, settings, runtime.encryptor, verified, user)
    outcome = login.continue_after_authentication(
        ia, user, amr=amr, acr=acr, method=f"upstream:{verified.upstream.slug}",
        idp=verified.upstream.issuer)
    if isinstance(outcome, Refused):  # a disabled account: nothing was linked or logged in
        return failure_page(request, outcome.message, _back(interaction_id, "login"),
                            status=outcome.status, params={"name": verified.upstream.name})
    target = _redirect(f"/interaction/{interaction_id}")
    if outcome.session_cookie:
        set_session_cookie(target, settings, outcome.session_cookie)
    return target


def _link_from_console(request: Request, session: Session, runtime: Runtime,
                       verified: flow.Verified) -> Response:
    current = login_sessions.resolve(session, runtime.settings, session_cookie(request))
    back = (ACCOUNT_IDENTITIES, "upstream.back_to_account")
    if current is None or current[1].id != verified.user_id:
        session.rollback()
        return expired(request)
    user = current[1]
    existing = upstream_repo.find_identity(session, verified.upstream.id, verified.subject)
    if existing is not None and existing.user_id == user.id:
        session.commit()
        return _redirect(f"{ACCOUNT_IDENTITIES}?done=linked")
    why = linking.may_use(verified, user)
    if why is not None:
        linking.refused(session, verified, why, user=user)
        session.commit()
        return failure_page(request, why, back, status=403,
                            params={"name": verified.upstream.name})
    try:
        linking.link(session, runtime.settings, runtime.encryptor, verified, user,
                     proof="session")
    except Conflict as exc:
        session.rollback()
        linking.refused(session, verified, exc.detail or exc.message, user=user)
        session.commit()
        return failure_page(request, exc.message, back, status=409,
                            params={"name": verified.upstream.name})
    session.commit()
    return _redirect(f"{ACCOUNT_IDENTITIES}?done=linked")


# ---------------------------------------------------------------------------- the answer page


@dataclass
class _Answer:
    request: Request
    runtime: Runtime
    session: Session
    token: str
    parked: flow.Parked

    @property
    def verified(self) -> flow.Verified:
        return self.parked.verified

    def user(self) -> User | None:
        uid = self.parked.row.user_id
        return user_repo.get(self.session, uid) if uid else None

    def page(self, error: str | None = None, status: int = 200,
             values: dict[str, str] | None = None, error_params: dict[str, Any] | None = None
             ) -> Response:
        stage = self.parked.row.stage
        user = self.user()
        missing = {f for f, v in (("name", linking.claimed_name(self.verified.claims)),
                                  ("email", linking.claimed_email(self.verified.claims)))
                   if not v}
        return render(self.request, f"upstreams/{stage}.html", {
            "action": f"/upstreams/continue/{self.token}",
            "csrf_token": security.csrf.token_for(self.request),
            "upstream_name": self.verified.upstream.name,
            "email": user.email if user else None,
            "needs_code": bool(user and mfa.has_mfa(self.session, user.id)),
            "missing": missing,
            "values": values or {},
            "error": error, "error_params": error_params or {},
            "back": _back(self.verified.interaction_id, self.verified.purpose),
        }, status=status)


def _with_answer(request: Request, token: str, action: Any) -> Response:
    runtime = _runtime(request)
    with runtime.sessions() as session:
        try:
            parked = flow.load_answer(session, runtime.settings, runtime.encryptor, token,
                                      browser_cookie(request), consume=False)
        except flow.FlowExpired:
            return expired(request)
        response: Response = action(_Answer(request, runtime, session, token, parked))
        return response


@router.get("/upstreams/continue/{token}")
def answer_page(request: Request, token: str) -> Response:
    return _with_answer(request, token, lambda a: a.page())


@router.post("/upstreams/continue/{token}")
async def answer(request: Request, token: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    fields = {k: str(form.get(k) or "")[:MAX_FIELD]
              for k in ("password", "code", "method", "name", "email")}
    return await run_in_threadpool(
        _with_answer, request, token,
        lambda a: _prove(a, fields) if a.parked.row.stage == "prove" else _complete(a, fields),
    )


def _consume(a: _Answer) -> bool:
    try:
        flow.load_answer(a.session, a.runtime.settings, a.runtime.encryptor, a.token,
                         browser_cookie(a.request), consume=True)
    except flow.FlowExpired:
        return False
    return True


def _prove(a: _Answer, fields: dict[str, str]) -> Response:
    """The owner of the local account the upstream's email matched proves it: password, and
    the second factor when enrolled. Only then is the identity linked."""
    user = a.user()
    if user is None:
        return expired(a.request)
    if not fields["password"]:
        return a.page("login.invalid_credentials", status=400)
    guard = throttle(a.runtime)
    a.session.commit()
    attempt = guard.reserve_login(user.username_normalized, events.current_context().ip)
    if not attempt.verdict.allowed:
        wait = attempt.verdict.retry_after
        message = translate(negotiate_locale(a.request), "login.locked",
                            minutes=wait_minutes(wait))
        return a.page(message, status=429)
    try:
        proven = authenticate(a.session, password_hasher(a.runtime), user.username_normalized,
                              fields["password"])
    except AuthenticationFailed as exc:
        a.session.rollback()
        if exc.credential_was_wrong:
            guard.login_failed(attempt)
        linking.refused(a.session, a.verified, f"proof: {exc.reason}", user=user)
        a.session.commit()
        # The right password of an account that may not log in (unverified, disabled) is told
        # so: "wrong password" would send its owner resetting a password that is right.
        return a.page(PROOF_REFUSALS.get(exc.reason, "upstream.prove.wrong"),
                      status=401 if exc.credential_was_wrong else 403,
                      error_params={"name": a.verified.upstream.name})
    amr = ["fed", "pwd"]
    acr = mfa.ACR_PASSWORD
    if mfa.has_mfa(a.session, proven.id):
        method = fields["method"] if fields["method"] in ("totp", "recovery") else "totp"
        try:
            amr = mfa.combine_amr(amr, mfa.check_code(
                a.session, a.runtime.settings, a.runtime.encryptor, proven, method,
                fields["code"][:64]))
            acr = mfa.ACR_MFA
        except mfa.SecondFactorRefused as exc:
            a.session.commit()  # the refusal's audit event
            guard.login_failed(attempt)
            return a.page(exc.message, status=401)
    # The throttle counts in its own transaction; SQLite has one writer: end ours first.
    a.session.commit()
    guard.login_succeeded(attempt)
    if not _consume(a):
        a.session.rollback()
        return expired(a.request)
    try:
        linking.link(a.session, a.runtime.settings, a.runtime.encryptor, a.verified, proven,
                     proof="password" if acr == mfa.ACR_PASSWORD else "password+mfa")
    except Conflict as exc:
        a.session.rollback()
        return failure_page(a.request, exc.message, _back(a.verified.interaction_id, "login"),
                            status=409, params={"name": a.verified.upstream.name})
    return resume(a.request, a.session, a.runtime, a.verified, proven, amr=amr, acr=acr)


def _complete(a: _Answer, fields: dict[str, str]) -> Response:
    """Missing fields of a new citizen account, asked for on one page."""
    values = {"name": fields["name"], "email": fields["email"]}
    if not _consume(a):
        return expired(a.request)
    try:
        user = linking.create_citizen(a.session, a.runtime.settings, a.runtime.encryptor,
                                      a.verified, name=fields["name"] or None,
                                      email=fields["email"] or None)
    except (InvalidInput, Conflict) as exc:
        a.session.rollback()
        return a.page(exc.message, status=400, values=values, error_params=exc.params)
    return resume(a.request, a.session, a.runtime, a.verified, user, amr=["fed"], acr="1")
