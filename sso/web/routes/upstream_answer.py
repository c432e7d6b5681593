"""The one page a person may have to answer after an upstream identity provider's callback:
prove the local account its email matched (password and the second factor when enrolled, or a
passkey with user verification, which is a whole proof on its own), or fill in the fields a new
citizen account is missing. Only then is the identity linked and the parked request resumed.
The passkey on the proof page is :mod:`sso.web.routes.upstream_passkey`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sso.accounts import mfa
from sso.accounts.service import AuthenticationFailed, authenticate
from sso.accounts.throttle import wait_minutes
from sso.core import events
from sso.core.errors import Conflict, InvalidInput
from sso.db.models import User
from sso.federation import flow, linking
from sso.storage import users as user_repo
from sso.web import security
from sso.web.app_runtime import AppRuntime
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.load_shedding import checks_password
from sso.web.responses import browser_cookie
from sso.web.routes.upstreams import (
    MAX_FIELD,
    back_link,
    expired,
    failure_page,
    resume,
)
from sso.web.templating import render

router = APIRouter(include_in_schema=False)

# The proof page's message when the password was right but the account may not log in.
PROOF_REFUSALS = {
    "unverified": "upstream.prove.unverified",
    "disabled": "login.account_disabled",
}


@dataclass
class Answer:
    request: Request
    runtime: AppRuntime
    session: Session
    token: str
    parked: flow.Parked

    @property
    def verified(self) -> flow.Verified:
        return self.parked.verified

    @property
    def action(self) -> str:
        return f"/upstreams/continue/{self.token}"

    def user(self) -> User | None:
        uid = self.parked.row.user_id
        return user_repo.get(self.session, uid) if uid else None

    def page(
        self,
        error: str | None = None,
        status: int = 200,
        values: dict[str, str] | None = None,
        error_params: dict[str, Any] | None = None,
    ) -> Response:
        stage = self.parked.row.stage
        user = self.user()
        missing = {
            f
            for f, v in (
                ("name", linking.claimed_name(self.verified.claims)),
                ("email", linking.claimed_email(self.verified.claims)),
            )
            if not v
        }
        return render(
            self.request,
            f"upstreams/{stage}.html",
            {
                "action": self.action,
                "csrf_token": security.csrf.token_for(self.request),
                "upstream_name": self.verified.upstream.name,
                "email": user.email if user else None,
                "factors": mfa.factors(self.session, user.id) if user else None,
                "passkey_options": f"{self.action}/passkey/options",
                "passkey_finish": f"{self.action}/passkey",
                "missing": missing,
                "values": values or {},
                "error": error,
                "error_params": error_params or {},
                "back": back_link(self.verified.interaction_id, self.verified.purpose),
            },
            status=status,
        )


def with_answer(request: Request, token: str, action: Any) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            parked = flow.load_answer(
                session,
                runtime.settings,
                runtime.encryptor,
                token,
                browser_cookie(request),
                consume=False,
            )
        except flow.FlowExpired:
            return expired(request)
        response: Response = action(Answer(request, runtime, session, token, parked))
        return response


@router.get("/upstreams/continue/{token}")
def answer_page(request: Request, token: str) -> Response:
    return with_answer(request, token, lambda a: a.page())


@router.post("/upstreams/continue/{token}")
@checks_password
async def answer(request: Request, token: str) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    fields = {
        k: str(form.get(k) or "")[:MAX_FIELD]
        for k in ("password", "code", "method", "name", "email")
    }
    return await run_in_threadpool(
        with_answer,
        request,
        token,
        lambda a: _prove(a, fields) if a.parked.row.stage == "prove" else _complete(a, fields),
    )


def consume(a: Answer) -> bool:
    try:
        flow.load_answer(
            a.session,
            a.runtime.settings,
            a.runtime.encryptor,
            a.token,
            browser_cookie(a.request),
            consume=True,
        )
    except flow.FlowExpired:
        return False
    return True


def _prove(a: Answer, fields: dict[str, str]) -> Response:
    """The owner of the local account the upstream's email matched proves it: password, and
    the second factor when enrolled. Only then is the identity linked."""
    user = a.user()
    if user is None:
        return expired(a.request)
    if not fields["password"]:
        return a.page("login.invalid_credentials", status=400)
    guard = a.runtime.throttle
    a.session.commit()
    attempt = guard.reserve_login(user.username_normalized, events.current_context().ip)
    if not attempt.verdict.allowed:
        wait = attempt.verdict.retry_after
        message = translate(negotiate_locale(a.request), "login.locked", minutes=wait_minutes(wait))
        return a.page(message, status=429)
    try:
        proven = authenticate(
            a.session, a.runtime.password_hasher, user.username_normalized, fields["password"]
        )
    except AuthenticationFailed as exc:
        a.session.rollback()
        if exc.credential_was_wrong:
            guard.login_failed(attempt)
        linking.refused(a.session, a.verified, f"proof: {exc.reason}", user=user)
        a.session.commit()
        # The right password of an account that may not log in (unverified, disabled) is told
        # so: "wrong password" would send its owner resetting a password that is right.
        return a.page(
            PROOF_REFUSALS.get(exc.reason, "upstream.prove.wrong"),
            status=401 if exc.credential_was_wrong else 403,
            error_params={"name": a.verified.upstream.name},
        )
    amr = ["fed", "pwd"]
    acr = mfa.ACR_PASSWORD
    factors = mfa.factors(a.session, proven.id)
    if factors.any and not factors.totp and fields["method"] != "recovery":
        # Only a passkey: it is the second step (the passkey button, with the password).
        a.session.commit()
        return a.page("upstream.prove.passkey_needed", status=401)
    if factors.any:
        method = fields["method"] if fields["method"] in ("totp", "recovery") else "totp"
        try:
            amr = mfa.combine_amr(
                amr,
                mfa.check_code(
                    a.session,
                    a.runtime.settings,
                    a.runtime.encryptor,
                    proven,
                    method,
                    fields["code"][:64],
                ),
            )
            acr = mfa.ACR_MFA
        except mfa.SecondFactorRefused as exc:
            a.session.commit()  # the refusal's audit event
            guard.login_failed(attempt)
            return a.page(exc.message, status=401)
    # The throttle counts in its own transaction; SQLite has one writer: end ours first.
    a.session.commit()
    guard.login_succeeded(attempt)
    return link_and_resume(
        a, proven, amr=amr, acr=acr, proof="password" if acr == mfa.ACR_PASSWORD else "password+mfa"
    )


def link_and_resume(a: Answer, proven: User, *, amr: list[str], acr: str, proof: str) -> Response:
    """The account is proven (``proof`` says how): spend the answer page, link the identity,
    and continue the parked authorization request. Commits."""
    if not consume(a):
        a.session.rollback()
        return expired(a.request)
    try:
        linking.link(
            a.session, a.runtime.settings, a.runtime.encryptor, a.verified, proven, proof=proof
        )
    except Conflict as exc:
        a.session.rollback()
        return failure_page(
            a.request,
            exc.message,
            back_link(a.verified.interaction_id, "login"),
            status=409,
            params={"name": a.verified.upstream.name},
        )
    return resume(a.request, a.session, a.runtime, a.verified, proven, amr=amr, acr=acr)


def _complete(a: Answer, fields: dict[str, str]) -> Response:
    """Missing fields of a new citizen account, asked for on one page."""
    values = {"name": fields["name"], "email": fields["email"]}
    if not consume(a):
        return expired(a.request)
    try:
        user = linking.create_citizen(
            a.session,
            a.runtime.settings,
            a.runtime.encryptor,
            a.verified,
            name=fields["name"] or None,
            email=fields["email"] or None,
        )
    except (InvalidInput, Conflict) as exc:
        a.session.rollback()
        return a.page(exc.message, status=400, values=values, error_params=exc.params)
    return resume(a.request, a.session, a.runtime, a.verified, user, amr=["fed"], acr="1")
