"""Drawing a login interaction: the pages of its steps and the responses of the outcomes the
services of :mod:`sso.oidc.login` and :mod:`sso.oidc.second_factor` return. No rules here: what
comes next is decided by :mod:`sso.oidc.policy`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from sso.accounts import mfa
from sso.accounts.throttle import wait_minutes
from sso.db.models import Client, User
from sso.federation import registry
from sso.oidc import interaction, login
from sso.oidc.authorize import AuthorizationParams
from sso.oidc.interaction import Interaction, InteractionExpired
from sso.oidc.outcomes import Answer, AppRefused, Proceed, Refused, Show
from sso.web import security
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.responses import (
    authorization_response,
    browser_cookie,
    session_cookie,
    set_session_cookie,
)
from sso.web.routes import mfa_pages
from sso.web.templating import render


class InteractionPage:
    """One request to an interaction: the loaded interaction and how to draw its pages."""

    def __init__(self, request: Request, ia: Interaction) -> None:
        self.request = request
        self.ia = ia
        self.runtime = runtime_of(request)
        self.settings = self.runtime.settings
        self.locale = negotiate_locale(request, ia.params.ui_locales)

    @property
    def here(self) -> str:
        return f"/interaction/{self.ia.interaction_id}"

    @property
    def client(self) -> Client:
        return self.ia.client

    @property
    def params(self) -> AuthorizationParams:
        return self.ia.params

    def message(self, refused: Refused) -> str:
        """A refusal's message: the catalogue key, or the text with the minutes to wait."""
        if refused.retry_after:
            return translate(
                self.locale, refused.message, minutes=wait_minutes(refused.retry_after)
            )
        return refused.message

    def page(self, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"client_name": self.client.name, **context}
        return render(self.request, name, context, status=status, locale=self.locale)

    def login_page(
        self, error: str | None = None, username: str | None = None, status: int = 200
    ) -> Response:
        again = self.ia.reauth_user
        if again is not None:
            username = again.username
        return self.page(
            "login.html",
            {
                "action": f"{self.here}/login",
                "csrf_token": security.csrf.token_for(self.request),
                "username": username if username is not None else (self.params.login_hint or ""),
                "reauth": again is not None,
                "error": error,
                "passkey_options": f"{self.here}/passkey/options",
                "passkey_finish": f"{self.here}/passkey",
                # Citizens without a password (issue 15): a code by WhatsApp, SMS or mail, and
                # registration that comes back to this app.
                "code_login": f"{self.here}/code",
                "register": f"{self.here}/register",
                "upstreams": registry.login_buttons(self.ia.session, self.ia.interaction_id),
            },
            status=status,
        )

    def mfa_page(
        self, user: User, error: str | None = None, method: str = "totp", status: int = 200
    ) -> Response:
        return mfa_pages.verify_page(
            self.request,
            self.ia.session,
            self.ia.interaction_id,
            user,
            locale=self.locale,
            client_name=self.client.name,
            step_up=self.ia.step_up,
            error=error,
            method=method,
            status=status,
        )

    def enrol_page(self, user: User, error: str | None = None, status: int = 200) -> Response:
        return mfa_pages.enrol_page(
            self.request,
            self.ia.session,
            self.runtime.encryptor,
            user,
            action=f"{self.here}/enrol",
            locale=self.locale,
            required=mfa.mfa_required(self.ia.session, self.settings, user),
            requested=True,
            cancel_action=f"{self.here}/abort",
            client_name=self.client.name,
            error=error,
            status=status,
        )

    def consent_page(self) -> Response:
        return self.page(
            "consent.html",
            {
                "action": f"{self.here}/consent",
                "csrf_token": security.csrf.token_for(self.request),
                "scopes": self.params.scope,
                # a device's request: the code it shows, to compare (RFC 8628 §5.4)
                "user_code": self.params.user_code if self.params.device_code_hash else None,
            },
        )

    def answer(self, outcome: Answer) -> Response:
        return authorization_response(self.request, outcome.response)

    def proceed(self) -> Response:
        """The page of where the interaction stands (or its answer to the client)."""
        outcome = login.advance(self.ia)
        if isinstance(outcome, Answer):
            return self.answer(outcome)
        if isinstance(outcome, AppRefused):
            return render(
                self.request,
                "error.html",
                {
                    "title": "error.client_in_development_title",
                    "message": "error.client_in_development",
                    "params": {"name": self.client.name},
                },
                status=403,
            )
        response = self.show(outcome)
        self.ia.session.commit()  # session touch, TOTP enrolment started
        return response

    def show(self, outcome: Show) -> Response:
        if outcome.step == "login":
            if "create" in self.params.prompt and not self.request.query_params.get("login"):
                # OpenID Connect prompt=create: the registration page (it links to the login).
                return RedirectResponse(f"{self.here}/register", status_code=303)
            return self.login_page()
        if outcome.user is None:
            raise InteractionExpired()
        if outcome.step == "mfa":
            return self.mfa_page(outcome.user)
        if outcome.step == "enrol":
            return self.enrol_page(outcome.user)
        return self.consent_page()

    def back(self, outcome: Proceed) -> Response:
        """On to the interaction's next page, with the new session's cookie if one started."""
        response = RedirectResponse(self.here, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        if outcome.session_cookie:
            set_session_cookie(response, self.settings, outcome.session_cookie)
        return response

    def refused(self, outcome: Refused, response: Response) -> Response:
        if outcome.retry_after:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response


def expired_page(request: Request) -> Response:
    return render(request, "error.html", {"message": "error.interaction_expired"}, status=400)


def with_interaction(
    request: Request, interaction_id: str, action: Callable[[InteractionPage], Response]
) -> Response:
    """Load the interaction for this browser and run ``action`` on it; an unknown, used or
    expired interaction (now or during the action) is the "expired" page."""
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
            page = InteractionPage(request, ia)
        except InteractionExpired:
            return expired_page(request)
        try:
            return action(page)
        except InteractionExpired:
            session.rollback()
            return expired_page(request)
        except BaseException:
            session.rollback()
            raise
