"""Back to the app after an email-and-password registration started on its login page
(``/register?interaction=…``): the parked authorization request is kept.

With a grace period (``SSO_EMAIL_VERIFICATION_GRACE_MINUTES`` > 0) the new citizen is logged
in at once with ``acr`` "0" (:func:`sso.oidc.login.continue_after_authentication` applies the
grace) and goes on to the app; the "check your email" page offers the way there. Either way,
the verification link opened in the same browser logs the person in and goes back to the app
(:func:`after_verification`)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from sso.oidc import interaction, login
from sso.oidc.interaction import InteractionExpired
from sso.oidc.outcomes import Proceed
from sso.storage import users as user_repo
from sso.web import sealed
from sso.web.deps import runtime_of
from sso.web.responses import browser_cookie, session_cookie

MAX_ID = 200


def after_email_signup(
    request: Request, interaction_id: str, user_id: str | None
) -> tuple[str | None, str | None]:
    """(the URL that continues the app's login or None when it is gone, the new session's
    cookie value when the person is logged in already)."""
    runtime = runtime_of(request)
    if not interaction_id or len(interaction_id) > MAX_ID:
        return None, None
    with runtime.sessions() as session:
        try:
            ia = interaction.open_interaction(
                session,
                runtime.settings,
                interaction_id,
                browser_value=browser_cookie(request),
                session_cookie_value=session_cookie(request),
            )
        except InteractionExpired:
            return None, None
        url = f"/interaction/{interaction_id}"
        user = user_repo.get(session, user_id) if user_id else None
        if user is None or runtime.settings.email_verification_grace_minutes <= 0:
            return url, None
        outcome = login.continue_after_authentication(
            ia, user, amr=["pwd"], acr="0", method="password_signup"
        )
        if isinstance(outcome, Proceed):
            return url, outcome.session_cookie
        return url, None


COOKIE = "signup_return"


def remember(request: Request, response: Response, interaction_id: str, user_id: str) -> None:
    """Keep, in this browser only (a sealed cookie for this person), which app's login the
    registration came from, so the verification link opened here goes back to it."""
    runtime = runtime_of(request)
    sealed.put(
        request,
        response,
        COOKIE,
        user_id,
        {"ia": interaction_id[:MAX_ID]},
        runtime.settings.interaction_lifetime,
    )


def after_verification(request: Request, user_id: str) -> tuple[str | None, str | None]:
    """The verification link was opened in the browser that registered from an app: log the
    person in (the password was set in this very browser, the link proves the address) and
    continue that app's login; (its URL, the new session's cookie). (None, None) elsewhere."""
    payload = sealed.get(request, COOKIE, user_id)
    interaction_id = str((payload or {}).get("ia") or "")
    if not interaction_id:
        return None, None
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            ia = interaction.open_interaction(
                session,
                runtime.settings,
                interaction_id,
                browser_value=browser_cookie(request),
                session_cookie_value=session_cookie(request),
            )
        except InteractionExpired:
            return None, None
        url = f"/interaction/{interaction_id}"
        user = user_repo.get(session, user_id)
        if user is None:
            return None, None
        if ia.current is not None and ia.current[1].id == user.id and ia.current[0].acr != "0":
            return url, None
        outcome = login.continue_after_authentication(ia, user, amr=["pwd"], method="email_link")
        return url, outcome.session_cookie if isinstance(outcome, Proceed) else None
