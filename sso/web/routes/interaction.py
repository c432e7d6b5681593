"""The login and consent pages of a parked authorization request, and its completion."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import AuthenticationFailed, authenticate
from sso.accounts.throttle import LoginAttempt, Throttle, account_ref, for_runtime, wait_minutes
from sso.core import events
from sso.db.models import AuthorizationRequest, Client, LoginSession, User
from sso.federation import registry
from sso.oauth import device as device_flow
from sso.oidc import interaction
from sso.oidc.authorize import AuthorizationParams
from sso.runtime import Runtime
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.web import security
from sso.web.console import CONSOLE_CLIENT_ID
from sso.web.i18n import negotiate_locale, translate
from sso.web.load_shedding import checks_password
from sso.web.responses import (
    authorization_response,
    browser_cookie,
    session_cookie,
    set_session_cookie,
)
from sso.web.routes import mfa_pages
from sso.web.templating import render

router = APIRouter(include_in_schema=False)

MAX_FIELD = 1024


def password_hasher(runtime: Runtime) -> PasswordHasher:
    hasher = runtime.extras.get("password_hasher")
    if not isinstance(hasher, PasswordHasher):
        hasher = runtime.extras["password_hasher"] = PasswordHasher(runtime.settings)
    return hasher


def throttle(runtime: Runtime) -> Throttle:
    """The process's guessing protection (Redis or database counters)."""
    return for_runtime(runtime.extras, runtime.settings, runtime.sessions)


class _Context:
    """Everything one interaction request needs, loaded in one place."""

    def __init__(self, request: Request, session: Session, interaction_id: str) -> None:
        self.request = request
        self.runtime: Runtime = request.app.state.runtime
        self.settings = self.runtime.settings
        self.session = session
        self.interaction_id = interaction_id
        self.row: AuthorizationRequest
        self.params: AuthorizationParams
        self.row, self.params, self.login_required = interaction.load(
            session, self.settings, interaction_id, browser_cookie(request)
        )
        client = client_repo.get_by_client_id(session, self.row.client_id)
        if client is None or client.status != "active":
            raise interaction.InteractionExpired()
        self.client: Client = client
        self.current = login_sessions.resolve(
            session, self.settings, session_cookie(request)
        )
        self.locale = negotiate_locale(request, self.params.ui_locales)

    def page(self, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"client_name": self.client.name, **context}
        return render(self.request, name, context, status=status, locale=self.locale)

    @property
    def reauth_user(self) -> User | None:
        """The person signing in again for a sensitive console action (``max_age`` from the
        console client while logged in): the page says why and the username is fixed."""
        if (self.current is not None and self.params.max_age is not None
                and self.client.client_id == CONSOLE_CLIENT_ID):
            return self.current[1]
        return None

    def login_page(
        self, error: str | None = None, username: str | None = None, status: int = 200
    ) -> Response:
        again = self.reauth_user
        if again is not None:
            username = again.username
        return self.page(
            "login.html",
            {
                "action": f"/interaction/{self.interaction_id}/login",
                "csrf_token": security.csrf.token_for(self.request),
                "username": username if username is not None else (self.params.login_hint or ""),
                "reauth": again is not None,
                "error": error,
                "passkey_options": f"/interaction/{self.interaction_id}/passkey/options",
                "passkey_finish": f"/interaction/{self.interaction_id}/passkey",
                "upstreams": registry.login_buttons(self.session, self.interaction_id),
            },
            status=status,
        )

    def mfa_page(
        self, user: User, error: str | None = None, method: str = "totp", status: int = 200
    ) -> Response:
        return mfa_pages.verify_page(
            self.request, self.session, self.interaction_id, user, locale=self.locale,
            client_name=self.client.name, step_up=interaction.pending_amr(self.row) is None,
            error=error, method=method, status=status,
        )

    def enrol_page(self, user: User, error: str | None = None, status: int = 200) -> Response:
        return mfa_pages.enrol_page(
            self.request, self.session, self.runtime.encryptor, user,
            action=f"/interaction/{self.interaction_id}/enrol", locale=self.locale,
            required=mfa.mfa_required(self.session, self.settings, user), requested=True,
            cancel_action=f"/interaction/{self.interaction_id}/abort",
            client_name=self.client.name, error=error, status=status,
        )

    def next(self) -> interaction.Next:
        return interaction.next_step(
            self.session, self.settings, self.row, self.params, self.login_required,
            self.client, self.current,
        )

    def consent_page(self) -> Response:
        return self.page(
            "consent.html",
            {
                "action": f"/interaction/{self.interaction_id}/consent",
                "csrf_token": security.csrf.token_for(self.request),
                "scopes": self.params.scope,
                # a device's request: the code it shows, to compare (RFC 8628 §5.4)
                "user_code": self.params.user_code if self.params.device_code_hash else None,
            },
        )

    def finish(self, current: tuple[LoginSession, User]) -> Response:
        if not interaction.complete(self.session, self.settings, self.row):
            self.session.rollback()
            return expired_page(self.request)
        result = interaction.issue_code(
            self.session, self.settings, self.client, self.params, *current
        )
        self.session.commit()
        return authorization_response(self.request, result)

    def deny(self, error: str, description: str) -> Response:
        if not interaction.complete(self.session, self.settings, self.row):
            self.session.rollback()
            return expired_page(self.request)
        if self.params.device_code_hash is not None:  # RFC 8628: the device's poll is refused
            device_flow.deny(self.session, self.params.device_code_hash,
                             client_id=self.client.client_id,
                             actor_id=self.current[1].id if self.current else None)
        result = interaction.error_response(
            self.settings,
            self.params.redirect_uri,
            self.params.response_mode,
            self.params.state,
            error,
            description,
        )
        self.session.commit()
        return authorization_response(self.request, result)

    def proceed(self) -> Response:
        nxt = self.next()
        if nxt.step == "login":
            response = self.login_page()
        elif nxt.step == "mfa":
            response = self.mfa_page(present(nxt.user))
        elif nxt.step == "enrol":
            response = self.enrol_page(present(nxt.user))
        elif nxt.step == "consent":
            response = self.consent_page()
        elif nxt.step == "refused":  # an app in development: its owner and admins only
            assert nxt.user is not None
            if not interaction.refuse(self.session, self.settings, self.row, self.client,
                                      self.params, nxt.user):
                self.session.rollback()
                return expired_page(self.request)
            self.session.commit()
            return render(self.request, "error.html", {
                "title": "error.client_in_development_title",
                "message": "error.client_in_development", "params": {"name": self.client.name},
            }, status=403)
        else:
            return self.finish(present(nxt.current))
        self.session.commit()  # session touch, TOTP enrolment started
        return response


T = TypeVar("T")


def present(found: T | None) -> T:
    """The person (or login) a step of the interaction needs. Missing means the parked request
    is not in the state that step expects: the person starts again (the "expired" page), never
    a 500 and never a step taken for nobody."""
    if found is None:
        raise interaction.InteractionExpired()
    return found


def expired_page(request: Request) -> Response:
    return render(request, "error.html", {"message": "error.interaction_expired"}, status=400)


def _with_context(request: Request, interaction_id: str, action: Any) -> Response:
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions() as session:
        try:
            ctx = _Context(request, session, interaction_id)
        except interaction.InteractionExpired:
            return expired_page(request)
        try:
            response: Response = action(ctx)
        except interaction.InteractionExpired:
            session.rollback()
            return expired_page(request)
        except BaseException:
            session.rollback()
            raise
        return response


@router.get("/interaction/{interaction_id}")
async def show(request: Request, interaction_id: str) -> Response:
    return await run_in_threadpool(
        _with_context, request, interaction_id, lambda ctx: ctx.proceed()
    )


@router.post("/interaction/{interaction_id}/login")
@checks_password
async def login(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    username = str(form.get("username") or "")[:MAX_FIELD]
    password = str(form.get("password") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        _with_context, request, interaction_id, lambda ctx: _login(ctx, username, password)
    )


# Messages of a refused login, by reason (anything else: "wrong credentials").
REFUSAL_MESSAGES = {
    "disabled": "login.account_disabled",
    "unverified": "login.email_unverified",
    "throttled": "login.locked",
}


def record_login_refused(
    ctx: _Context, guard: Throttle, attempt: LoginAttempt | None, exc: AuthenticationFailed,
    method: str,
) -> str:
    """The bookkeeping of a refused login, the same for every method (password, passkey): the
    guessing counters (a wrong credential counts as a guess; a right credential of an account
    that may not log in clears them, as a success would) and a ``user.login_failed`` event
    with the method. Commits; returns the catalogue key of the message to show."""
    ctx.session.rollback()
    if attempt is not None:
        if exc.credential_was_wrong:
            guard.login_failed(attempt)
        else:
            guard.login_succeeded(attempt)
    audit.record(
        ctx.session,
        events.USER_LOGIN_FAILED,
        outcome="failure",
        actor_id=exc.user.id if exc.user else None,
        target_type="user" if exc.user else None,
        target_id=exc.user.id if exc.user else None,
        client_id=ctx.client.client_id,
        reason=exc.reason,
        method=method,
    )
    ctx.session.commit()
    return REFUSAL_MESSAGES.get(exc.reason, "login.invalid_credentials")


def reserve_login(ctx: _Context, guard: Throttle, account: str) -> LoginAttempt:
    """Reserve one login attempt of ``account`` under the guessing limits (outside the request's
    transaction: the throttle counts in its own, and SQLite has one writer)."""
    ctx.session.commit()
    return guard.reserve_login(account, events.current_context().ip)


def _login(ctx: _Context, username: str, password: str) -> Response:
    again = ctx.reauth_user
    if again is not None:  # signing in again: the same person, whatever the form says
        username = again.username
    if not username or not password:
        return ctx.login_page("login.invalid_credentials", username, status=400)
    hasher = password_hasher(ctx.runtime)
    guard = throttle(ctx.runtime)
    attempt = reserve_login(ctx, guard, account_ref(ctx.session, username))
    if not attempt.verdict.allowed:
        # Refused before any password check, with the same answer for unknown accounts.
        record_login_refused(ctx, guard, None, AuthenticationFailed("throttled"), "password")
        wait = attempt.verdict.retry_after
        message = translate(ctx.locale, "login.locked", minutes=wait_minutes(wait))
        response = ctx.login_page(message, username, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        user = authenticate(ctx.session, hasher, username, password)
    except AuthenticationFailed as exc:
        key = record_login_refused(ctx, guard, attempt, exc, "password")
        return ctx.login_page(key, username, status=401)
    response = RedirectResponse(f"/interaction/{ctx.interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    if interaction.needs_second_factor_after_password(ctx.session, ctx.settings, ctx.params, user):
        # No session yet: it starts once the second factor (or its enrolment) is done.
        interaction.hold_for_second_factor(ctx.session, ctx.row, user, ["pwd"])
        ctx.session.commit()
        guard.login_succeeded(attempt)
        return response
    new = login_sessions.start(
        ctx.session,
        ctx.settings,
        user,
        amr=["pwd"],
        acr="1",
        replaces=ctx.current[0] if ctx.current else None,
        method="password",
    )
    interaction.attach_login(ctx.session, ctx.row, new.row, user)
    ctx.session.commit()
    guard.login_succeeded(attempt)
    set_session_cookie(response, ctx.settings, new.cookie_value)
    return response


@router.post("/interaction/{interaction_id}/consent")
async def consent(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    decision = str(form.get("decision") or "")
    return await run_in_threadpool(
        _with_context, request, interaction_id, lambda ctx: _consent(ctx, decision)
    )


def _consent(ctx: _Context, decision: str) -> Response:
    nxt = ctx.next()
    current = nxt.current
    if nxt.step != "consent" or current is None:
        return ctx.proceed()
    if decision != "allow":
        return ctx.deny("access_denied", "the person declined")
    interaction.remember_consent(ctx.session, current[1], ctx.client, ctx.params)
    return ctx.finish(current)


@router.post("/interaction/{interaction_id}/abort")
async def abort(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    return await run_in_threadpool(
        _with_context,
        request,
        interaction_id,
        lambda ctx: ctx.deny("access_denied", "the person cancelled the login"),
    )
