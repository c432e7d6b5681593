"""GET/POST /logout (RP-Initiated Logout 1.0) and POST /logout/confirm.

A request that a valid ``id_token_hint`` ties to this browser's session (same ``sid``, or the
same person) logs out at once. Anything else is confirmed by the person first (§2: "the OP
SHOULD ask the End-User whether to log out"), which is what protects them from a cross-site
logout: /logout itself takes no CSRF token because relying parties call it from their own
pages, the confirmation form does. After logout the session cookie is cleared and the browser
goes back to the validated ``post_logout_redirect_uri`` (with ``state``), or sees a page.

Back-channel logouts are committed with the logout and sent after the response, on another
thread (:func:`sso.oidc.backchannel.deliver_soon`): a slow relying party never delays the person.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.accounts import sessions as login_sessions
from sso.oidc.backchannel import deliver_soon
from sso.oidc.logout import LogoutRequest, LogoutRequestError, end_session, validate_logout_request
from sso.runtime import Runtime
from sso.web import security
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale
from sso.web.responses import clear_session_cookie, session_cookie
from sso.web.templating import render

log = logging.getLogger("sso.web.logout")
router = APIRouter(include_in_schema=False)

CONFIRM_ACTION = "/logout/confirm"
# Fields of the confirmation form that are ours, not the logout request's.
_FORM_ONLY = frozenset({security.CSRF_FIELD, "confirm"})

Params = Mapping[str, Sequence[str]]


def _multi(items: Sequence[tuple[str, object]], skip: frozenset[str] = frozenset()) -> Params:
    multi: dict[str, list[str]] = {}
    for key, value in items:
        if isinstance(value, str) and key not in skip:
            multi.setdefault(key, []).append(value)
    return multi


@router.api_route("/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    items: Sequence[tuple[str, object]]
    if request.method == "POST":
        items = (await request.form()).multi_items()
    else:
        items = request.query_params.multi_items()
    return await run_in_threadpool(_logout, request, _multi(items))


@router.post(CONFIRM_ACTION)
async def confirm(request: Request) -> Response:
    form = await request.form()
    security.csrf.verify(request, form)
    decision = form.get("confirm")
    multi = _multi(form.multi_items(), _FORM_ONLY)
    return await run_in_threadpool(_confirm, request, multi, decision == "yes")


def _ui_locales(multi: Params) -> str | None:
    values = multi.get("ui_locales") or []
    return values[0][:256] if len(values) == 1 else None


def _error_page(request: Request, multi: Params, exc: LogoutRequestError) -> Response:
    log.info("logout request refused: %s", exc.detail)
    locale = negotiate_locale(request, _ui_locales(multi))
    return render(request, "error.html", {"message": exc.message}, status=400, locale=locale)


def _done(request: Request, runtime: Runtime, req: LogoutRequest) -> Response:
    """The end of every logout: no session cookie, back to the RP or a page saying so."""
    target = req.redirect_target()
    response: Response
    if target is not None:
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    else:
        locale = negotiate_locale(request, req.ui_locales)
        response = render(request, "logged_out.html", {"redirect_uri": None}, locale=locale)
    clear_session_cookie(response, runtime.settings)
    return response


def _confirm_page(request: Request, req: LogoutRequest) -> Response:
    form_action = []
    if req.post_logout_redirect_uri:  # a native app's scheme, for the redirect after the POST
        scheme = urlsplit(req.post_logout_redirect_uri).scheme
        if scheme not in ("http", "https"):
            form_action.append(f"{scheme}:")
    return render(
        request,
        "logout_confirm.html",
        {
            "action": CONFIRM_ACTION,
            "csrf_token": security.csrf.token_for(request),
            "hidden": req.form_fields(),
            "client_name": req.client.name if req.client else None,
        },
        locale=negotiate_locale(request, req.ui_locales),
        form_action=form_action,
    )


def _logout(request: Request, multi: Params) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            req = validate_logout_request(session, runtime.keys, runtime.settings, multi)
        except LogoutRequestError as exc:
            return _error_page(request, multi, exc)
        current = login_sessions.resolve(session, runtime.settings, session_cookie(request))
        if current is not None and not req.is_tied_to(current[0]):
            session.commit()  # the session's last_seen_at touch
            return _confirm_page(request, req)
        ids: list[str] = []
        if current is not None:
            ids = end_session(session, current[0], client_id=req.client_id)
        session.commit()
    deliver_soon(runtime, ids)
    return _done(request, runtime, req)


def _confirm(request: Request, multi: Params, confirmed: bool) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            req = validate_logout_request(session, runtime.keys, runtime.settings, multi)
        except LogoutRequestError as exc:
            return _error_page(request, multi, exc)
        if not confirmed:
            # The person stays logged in here; like node-oidc-provider, they still go back to
            # the relying party, which ended its own session before sending them to us.
            target = req.redirect_target() or "/"
            return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        current = login_sessions.resolve(session, runtime.settings, session_cookie(request))
        ids: list[str] = []
        if current is not None:
            ids = end_session(session, current[0], client_id=req.client_id)
        session.commit()
    deliver_soon(runtime, ids)
    return _done(request, runtime, req)
