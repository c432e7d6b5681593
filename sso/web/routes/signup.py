"""Registration beyond the email-and-password form: "Kirim ulang" of a verification link
(``POST /register/resend``) and, for citizens, registration with a mobile number alone
(``/register/phone``, or inside a parked authorization request at
``/interaction/{id}/register``: the person ends up logged in to the app they came from)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from sso.accounts import code_limits, registration
from sso.core import events
from sso.web import security
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.templating import default_locale, render

router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024


def _locale(request: Request) -> str:
    return negotiate_locale(request, default=default_locale(request))


@router.post("/register/resend")
async def resend_link(request: Request) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    email = str(form.get("email") or "")[:MAX_FIELD]
    return await run_in_threadpool(_resend_link, request, email)


def _resend_link(request: Request, email: str) -> Response:
    """The same page whether or not the address has an unverified account; counted per
    address and IP like codes (nobody floods a mailbox with links)."""
    runtime = runtime_of(request)
    guard = runtime.throttle
    verdict = code_limits.allow_request(
        guard, "link:" + email.strip().casefold(), events.current_context().ip, False
    )
    context: dict[str, object] = {
        "email": email.strip(),
        "csrf_token": security.csrf.token_for(request),
    }
    if not verdict.allowed:
        minutes = max(1, -(-verdict.retry_after // 60))
        context["error"] = translate(_locale(request), "code.too_many", minutes=minutes)
        return render(
            request,
            "register_sent.html",
            context,
            status=429,
            headers={"Retry-After": str(verdict.retry_after)},
        )
    with runtime.sessions() as session:
        try:
            mails = registration.resend_verification(
                session, runtime.settings, email, _locale(request)
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
    context["resent"] = True
    page = render(request, "register_sent.html", context)
    if mails:
        page.background = BackgroundTask(runtime.mailer.deliver, mails)
    return page
