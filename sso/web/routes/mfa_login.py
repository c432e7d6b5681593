"""The second factor inside a login interaction: a TOTP or recovery code, TOTP enrolment for a
person who must have a factor and has none, and passkeys (second factor, or a login without
password from the login page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa, passkeys
from sso.accounts import sessions as login_sessions
from sso.accounts.service import AuthenticationFailed, check_may_log_in
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.db.models import User
from sso.oidc import interaction
from sso.storage import audit
from sso.storage import users as user_repo
from sso.web import security
from sso.web.i18n import translate
from sso.web.responses import set_session_cookie
from sso.web.routes import mfa_pages
from sso.web.routes.interaction import (
    MAX_FIELD,
    _Context,
    _with_context,
    record_login_refused,
    reserve_login,
    throttle,
)

router = APIRouter(include_in_schema=False)
MAX_JSON = 64 * 1024


def complete_second_factor(
    ctx: _Context, user: User, method_amr: list[str], method: str
) -> str | None:
    """Finish the login (or the step-up) at acr "2"; returns a new session cookie value when a
    session was started. The caller commits."""
    held = interaction.pending_amr(ctx.row)
    cookie: str | None = None
    if held is not None:
        new = login_sessions.start(
            ctx.session, ctx.settings, user,
            amr=mfa.combine_amr(held, method_amr), acr=mfa.ACR_MFA,
            replaces=ctx.current[0] if ctx.current else None, method="password",
        )
        interaction.attach_login(ctx.session, ctx.row, new.row, user)
        session_id, cookie = new.row.id, new.cookie_value
    else:
        # A step-up adds the factor to the browser's own session: that session must be the
        # person's who just proved the factor.
        if ctx.current is None or ctx.current[1].id != user.id:
            raise interaction.InteractionExpired()
        row = ctx.current[0]
        login_sessions.upgrade(
            ctx.session, row, amr=mfa.combine_amr(list(row.amr), method_amr), acr=mfa.ACR_MFA
        )
        interaction.attach_login(ctx.session, ctx.row, row, user)
        session_id = row.id
    audit.record(
        ctx.session, events.MFA_VERIFIED, actor_id=user.id, target_type="user",
        target_id=user.id, client_id=ctx.client.client_id, session_id=session_id,
        method=method, step_up=held is None,
    )
    return cookie


def _back_to_interaction(ctx: _Context, cookie: str | None) -> Response:
    response = RedirectResponse(f"/interaction/{ctx.interaction_id}", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    if cookie:
        set_session_cookie(response, ctx.settings, cookie)
    return response


# ---------------------------------------------------------------------- TOTP / recovery code
@router.post("/interaction/{interaction_id}/mfa")
async def verify_code(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    method = str(form.get("method") or "")[:20]
    code = str(form.get("code") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        _with_context, request, interaction_id, lambda ctx: _verify_code(ctx, method, code)
    )


def _verify_code(ctx: _Context, method: str, code: str) -> Response:
    nxt = ctx.next()
    if nxt.step != "mfa" or nxt.user is None:
        return ctx.proceed()
    user = nxt.user
    if method not in mfa.METHODS or not code.strip():
        return ctx.mfa_page(user, "mfa.code_invalid", method=method, status=400)
    guard = throttle(ctx.runtime)
    ctx.session.commit()  # the throttle counts in its own transaction (SQLite has one writer)
    attempt = mfa.reserve_code_attempt(guard, user.id, events.current_context().ip)
    if not attempt.verdict.allowed:
        audit.record(ctx.session, events.MFA_FAILED, outcome="failure", actor_id=user.id,
                     target_type="user", target_id=user.id, method=method, reason="throttled")
        ctx.session.commit()
        wait = attempt.verdict.retry_after
        message = translate(ctx.locale, "mfa.locked", minutes=wait_minutes(wait))
        response = ctx.mfa_page(user, message, method=method, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        amr = mfa.check_code(
            ctx.session, ctx.settings, ctx.runtime.encryptor, user, method, code
        )
    except mfa.SecondFactorRefused as exc:
        ctx.session.commit()  # the audit event of the failure
        return ctx.mfa_page(user, exc.message, method=method, status=401)
    cookie = complete_second_factor(ctx, user, amr, method)
    ctx.session.commit()
    mfa.code_attempt_succeeded(guard, attempt)
    return _back_to_interaction(ctx, cookie)


# ---------------------------------------------------------------------- enrolment at login
@router.post("/interaction/{interaction_id}/enrol")
async def enrol(request: Request, interaction_id: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    code = str(form.get("code") or "")[:MAX_FIELD]
    return await run_in_threadpool(
        _with_context, request, interaction_id, lambda ctx: _enrol(ctx, code)
    )


def _enrol(ctx: _Context, code: str) -> Response:
    nxt = ctx.next()
    if nxt.step != "enrol" or nxt.user is None:
        return ctx.proceed()
    user = nxt.user
    codes = mfa.confirm_totp(ctx.session, ctx.settings, ctx.runtime.encryptor, user, code)
    if codes is None:
        ctx.session.rollback()
        return ctx.enrol_page(user, "mfa.code_invalid", status=400)
    cookie = complete_second_factor(ctx, user, ["otp"], "totp_enrolment")
    ctx.session.commit()
    continue_url = f"/interaction/{ctx.interaction_id}"
    if codes:
        response = mfa_pages.recovery_codes_page(
            ctx.request, codes, continue_url=continue_url, locale=ctx.locale, enrolled=True
        )
    else:
        response = RedirectResponse(continue_url, status_code=303)
    if cookie:
        set_session_cookie(response, ctx.settings, cookie)
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


def _json_error(ctx_locale: str, key: str, status: int = 400, *, retry_after: int = 0,
                **extra: str) -> Response:
    headers = {"Cache-Control": "no-store"}
    message = translate(ctx_locale, key)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
        message = translate(ctx_locale, key, minutes=wait_minutes(retry_after))
    return JSONResponse(
        {"error": key, "message": message, **extra}, status_code=status, headers=headers,
    )


def _json_context(
    request: Request, interaction_id: str, action: Callable[[_Context], Response]
) -> Response:
    response = _with_context(request, interaction_id, action)
    if response.media_type == "text/html":  # the interaction is gone: say so as JSON
        return _json_error("id", "error.interaction_expired", status=400)
    return response


@router.post("/interaction/{interaction_id}/passkey/options")
async def passkey_options(request: Request, interaction_id: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(_json_context, request, interaction_id, _passkey_options)


def _passkey_options(ctx: _Context) -> Response:
    nxt = ctx.next()
    if nxt.step == "login":  # a login without password: any discoverable credential
        handle, options = passkeys.authentication_options(
            ctx.session, ctx.settings, user=None,
            data={"interaction": ctx.row.id_hash, "mode": "login"},
        )
    elif nxt.step == "mfa" and nxt.user is not None:
        handle, options = passkeys.authentication_options(
            ctx.session, ctx.settings, user=nxt.user,
            data={"interaction": ctx.row.id_hash, "mode": "second_factor"},
        )
    else:
        return _json_error(ctx.locale, "mfa.passkey_failed", redirect=_here(ctx))
    ctx.session.commit()
    return JSONResponse({"handle": handle, "options": options},
                        headers={"Cache-Control": "no-store"})


def _passkey_login_failed(ctx: _Context, exc: passkeys.PasskeyError) -> None:
    """A passkey that did not prove anyone at the login page: a guess against its owner's
    account when the credential is known (its signature failed), else a failure from this
    address; recorded as ``user.login_failed`` with the method."""
    guard = throttle(ctx.runtime)
    owner = user_repo.get(ctx.session, exc.user_id) if exc.user_id else None
    account = f"user:{owner.id}" if owner is not None else "passkey:unknown"
    attempt = reserve_login(ctx, guard, account)
    record_login_refused(ctx, guard, attempt,
                         AuthenticationFailed("bad_passkey" if owner else "unknown_user", owner),
                         "passkey")


def _here(ctx: _Context) -> str:
    return f"/interaction/{ctx.interaction_id}"


@router.post("/interaction/{interaction_id}/passkey")
async def passkey_finish(request: Request, interaction_id: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(
        _json_context, request, interaction_id, lambda ctx: _passkey_finish(ctx, body)
    )


def _passkey_finish(ctx: _Context, body: dict[str, Any]) -> Response:
    nxt = ctx.next()
    try:
        assertion = passkeys.authenticate(
            ctx.session, ctx.settings, body.get("handle"), body.get("credential")
        )
    except passkeys.PasskeyError as exc:
        ctx.session.commit()  # the spent challenge, and the audit of a cloned authenticator
        if nxt.step == "login":  # a failed login, counted and recorded like a wrong password
            _passkey_login_failed(ctx, exc)
        return _json_error(ctx.locale, exc.message)
    data = assertion.data
    owner = assertion.credential.user_id
    # From here on a refusal still commits: the challenge is spent and the counter moved.
    if data.get("interaction") != ctx.row.id_hash:
        ctx.session.commit()
        return _json_error(ctx.locale, "mfa.passkey_failed")
    user = None
    cookie: str | None = None
    if data.get("mode") == "login" and nxt.step == "login":
        user = user_repo.get(ctx.session, owner)
        if user is None:
            ctx.session.commit()
            return _json_error(ctx.locale, "mfa.passkey_unknown")
        # The same rules and bookkeeping as a password login (interaction._login).
        guard = throttle(ctx.runtime)
        attempt = reserve_login(ctx, guard, f"user:{user.id}")
        if not attempt.verdict.allowed:
            record_login_refused(ctx, guard, None, AuthenticationFailed("throttled", user),
                                 "passkey")
            return _json_error(ctx.locale, "login.locked", status=429,
                               retry_after=attempt.verdict.retry_after)
        try:
            if not assertion.user_verified:  # a login needs the person verified, not a touch
                raise AuthenticationFailed("bad_passkey", user)
            check_may_log_in(user)
        except AuthenticationFailed as exc:
            key = record_login_refused(ctx, guard, attempt, exc, "passkey")
            return _json_error(ctx.locale, "mfa.passkey_unknown" if exc.credential_was_wrong
                               else key)
        new = login_sessions.start(
            ctx.session, ctx.settings, user,
            amr=mfa.combine_amr(assertion.amr), acr=mfa.ACR_MFA,
            replaces=ctx.current[0] if ctx.current else None, method="passkey",
        )
        interaction.attach_login(ctx.session, ctx.row, new.row, user)
        ctx.session.commit()
        guard.login_succeeded(attempt)
        cookie = new.cookie_value
    elif data.get("mode") == "second_factor" and nxt.step == "mfa" and nxt.user is not None:
        if nxt.user.id != owner:
            ctx.session.commit()
            return _json_error(ctx.locale, "mfa.passkey_unknown")
        cookie = complete_second_factor(ctx, nxt.user, assertion.amr[:1], "passkey")
    else:
        ctx.session.commit()
        return _json_error(ctx.locale, "mfa.passkey_failed", redirect=_here(ctx))
    ctx.session.commit()
    response = JSONResponse({"redirect": _here(ctx)}, headers={"Cache-Control": "no-store"})
    if cookie:
        set_session_cookie(response, ctx.settings, cookie)
    return response
