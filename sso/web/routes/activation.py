"""``/account/activate?token=…``: a person an admin made chooses their first password with the
activation link they were mailed (:mod:`sso.accounts.activation`). The same form as a password
reset (``reset.html``) with texts of its own; CSRF-checked, no JavaScript needed, every refusal
explained (a link used, expired or for an account that has a password is one "not valid" page).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import activation, policy
from sso.web import security
from sso.web.deps import runtime_of
from sso.web.load_shedding import checks_password
from sso.web.templating import render

router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024
TEXTS = {
    "title": "activation.title",
    "intro": "activation.intro",
    "submit": "activation.submit",
    "invalid": "activation.invalid",
    "request_new": "activation.request_new",
}
DONE_TEXTS = {
    "done_title": "activation.done_title",
    "done_text": "activation.done_text",
    "done_next": "activation.done_next",
}


def _page(
    request: Request,
    token: str,
    kind: str | None,
    error: str | None = None,
    params: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "reset.html",
        {
            "action": activation.ACTIVATION_PATH,
            "csrf_token": security.csrf.token_for(request),
            "token": token,
            "valid": kind is not None,
            "min_length": policy.min_length(kind or "staff"),
            "max_length": policy.MAX_LENGTH,
            "error": error,
            "error_params": params or {},
            "texts": TEXTS,
        },
        status=status,
    )


@router.get(activation.ACTIVATION_PATH)
def activation_form(request: Request, token: str = "") -> Response:
    runtime = runtime_of(request)
    token = token[:MAX_FIELD]
    with runtime.sessions() as session:
        try:
            kind = activation.check_link(session, runtime.settings, token)
        except activation.ActivationLinkInvalid:
            return _page(request, "", None, status=400)
    return _page(request, token, kind)


@router.post(activation.ACTIVATION_PATH)
@checks_password
async def activate(request: Request) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    fields = {
        k: str(form.get(k) or "")[:MAX_FIELD] for k in ("token", "password", "password_confirm")
    }
    return await run_in_threadpool(_activate, request, fields)


def _activate(request: Request, fields: dict[str, str]) -> Response:
    runtime = runtime_of(request)
    token = fields["token"]
    kind: str | None = None
    with runtime.sessions() as session:
        try:
            kind = activation.check_link(session, runtime.settings, token)
            session.rollback()
            if fields["password"] != fields["password_confirm"]:
                return _page(request, token, kind, "password.mismatch", status=400)
            activation.activate(
                session, runtime.password_hasher, runtime.settings, token, fields["password"]
            )
            session.commit()
        except activation.ActivationLinkInvalid:
            session.rollback()
            return _page(request, "", None, status=400)
        except policy.PasswordRefused as exc:
            session.rollback()
            return _page(request, token, kind, exc.message, exc.params, status=400)
        except BaseException:
            session.rollback()
            raise
    return render(request, "reset_done.html", {"texts": DONE_TEXTS})
