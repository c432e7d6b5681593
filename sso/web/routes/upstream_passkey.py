"""A passkey on the upstream answer's proof page (:mod:`sso.web.routes.upstream_answer`), for
its script: the options, bound to this answer page, then the assertion. With the password it
is the second factor; alone it is the whole proof when the authenticator verified the person.
Answers are JSON: where to go next, or why the account was not linked."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa, passkeys
from sso.accounts.service import AuthenticationFailed, authenticate, check_may_log_in
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.federation import linking
from sso.web import security
from sso.web.i18n import negotiate_locale, translate
from sso.web.load_shedding import checks_password
from sso.web.routes.upstream_answer import PROOF_REFUSALS, Answer, link_and_resume, with_answer
from sso.web.routes.upstreams import MAX_FIELD

router = APIRouter(include_in_schema=False)


def _json_error(a: Answer, key: str, status: int = 400, retry_after: int = 0) -> Response:
    locale = negotiate_locale(a.request)
    params = {"minutes": wait_minutes(retry_after)} if retry_after else {}
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return JSONResponse(
        {"error": key, "message": translate(locale, key, **params)},
        status_code=status,
        headers=headers,
    )


def _as_json(a: Answer, response: Response) -> Response:
    """The answer of the proof as the passkey script expects it: where to go next (with the
    login session's cookie), or why the account was not linked."""
    location = response.headers.get("location")
    if response.status_code not in (302, 303) or not location:
        return _json_error(a, "upstream.prove.not_linked", response.status_code)
    out = JSONResponse({"redirect": location}, headers={"Cache-Control": "no-store"})
    for name, value in response.raw_headers:
        if name == b"set-cookie":
            out.raw_headers.append((name, value))
    return out


def _answer_tag(token: str) -> str:
    """What a passkey challenge is bound to: this answer page (never the token itself)."""
    return hashlib.sha256(f"upstream-answer:{token}".encode()).hexdigest()


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


@router.post("/upstreams/continue/{token}/passkey/options")
async def passkey_options(request: Request, token: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(with_answer, request, token, _passkey_options)


def _passkey_options(a: Answer) -> Response:
    user = a.user()
    if user is None or a.parked.row.stage != "prove":
        return _json_error(a, "upstream.error.expired")
    handle, options = passkeys.authentication_options(
        a.session, a.runtime.settings, user=user, data={"upstream_answer": _answer_tag(a.token)}
    )
    a.session.commit()
    return JSONResponse(
        {"handle": handle, "options": options}, headers={"Cache-Control": "no-store"}
    )


@router.post("/upstreams/continue/{token}/passkey")
@checks_password
async def passkey_finish(request: Request, token: str) -> Response:
    body = await _json_body(request)
    security.csrf.verify(request, body)
    return await run_in_threadpool(with_answer, request, token, lambda a: _passkey_proof(a, body))


def _passkey_proof(a: Answer, body: dict[str, Any]) -> Response:
    """A passkey of the matched account: with the password, its second factor; alone, the
    whole proof when the authenticator verified the person (PIN, fingerprint, face)."""
    user = a.user()
    if user is None or a.parked.row.stage != "prove":
        return _json_error(a, "upstream.error.expired")
    guard = a.runtime.throttle
    a.session.commit()
    attempt = guard.reserve_login(user.username_normalized, events.current_context().ip)
    if not attempt.verdict.allowed:
        return _json_error(a, "login.locked", 429, attempt.verdict.retry_after)
    try:
        assertion = passkeys.authenticate(
            a.session, a.runtime.settings, body.get("handle"), body.get("credential")
        )
    except passkeys.PasskeyError as exc:
        a.session.commit()  # the spent challenge, and the audit of a cloned authenticator
        guard.login_failed(attempt)
        linking.refused(a.session, a.verified, "proof: bad_passkey", user=user)
        a.session.commit()
        return _json_error(a, exc.message)
    a.session.commit()  # the challenge is spent and the counter moved, whatever follows
    if (
        assertion.data.get("upstream_answer") != _answer_tag(a.token)
        or assertion.credential.user_id != user.id
    ):
        return _json_error(a, "mfa.passkey_unknown")
    password = str(body.get("password") or "")[:MAX_FIELD]
    try:
        if password:
            proven = authenticate(
                a.session, a.runtime.password_hasher, user.username_normalized, password
            )
            amr, proof = mfa.combine_amr(["fed", "pwd"], assertion.amr[:1]), "password+mfa"
        elif not assertion.user_verified:  # a touch is possession only: not a whole proof
            guard.login_failed(attempt)
            return _json_error(a, "upstream.prove.passkey_needs_verification")
        else:
            check_may_log_in(user)
            proven, amr, proof = user, mfa.combine_amr(["fed"], assertion.amr), "passkey"
    except AuthenticationFailed as exc:
        a.session.rollback()
        if exc.credential_was_wrong:
            guard.login_failed(attempt)
        linking.refused(a.session, a.verified, f"proof: {exc.reason}", user=user)
        a.session.commit()
        return _json_error(
            a,
            PROOF_REFUSALS.get(exc.reason, "upstream.prove.wrong"),
            401 if exc.credential_was_wrong else 403,
        )
    a.session.commit()
    guard.login_succeeded(attempt)
    return _as_json(a, link_and_resume(a, proven, amr=amr, acr=mfa.ACR_MFA, proof=proof))
