"""Who is logged in on the provider's own pages (``/account``, ``/admin``, ``/developers``).

The provider's own consoles log people in the way Keycloak's account console does: as a
relying party of the provider itself. A page that needs a person raises :class:`LoginRequired`;
the handler sends the browser through ``/authorize`` of the built-in public client
``tangselconsole`` (trusted, so no consent page; PKCE with a verifier nobody keeps, so its
codes can never be redeemed). Login, MFA, step-up (``acr_values``) and re-authentication
(``max_age``) are therefore the same pages and the same rules as for every other app, and
the result is the ordinary SSO session cookie. ``/console/callback`` checks ``state`` against
a cookie and returns the person to the page they asked for.

Pages use :func:`require_login` (any live session), :func:`require_recent_login` (sensitive
changes: a login within the last 5 minutes) and pass ``acr="2"`` where MFA is required.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import random_token
from sso.core.errors import ServiceUnavailable
from sso.db.models import Client, LoginSession, User
from sso.oidc.interaction import CONSOLE_CLIENT_ID as CONSOLE_CLIENT_ID  # re-exported
from sso.storage import clients as client_repo
from sso.web.deps import runtime_of
from sso.web.responses import session_cookie
from sso.web.security import clear_cookie, cookie_name, read_cookie
from sso.web.templating import render

CALLBACK_PATH = "/console/callback"
STATE_COOKIE = "sso_console"
RECENT_LOGIN_SECONDS = 300
ACR_MFA = "2"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class CurrentLogin:
    login: LoginSession
    user: User

    @property
    def used_mfa(self) -> bool:
        return self.login.acr == ACR_MFA

    def logged_in_within(self, seconds: int) -> bool:
        return (now() - self.login.auth_time).total_seconds() <= seconds


class LoginRequired(Exception):
    """Send the browser to log in (again, or with MFA), then back to ``next_path``."""

    def __init__(
        self, next_path: str, *, max_age: int | None = None, acr: str | None = None
    ) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.max_age = max_age
        self.acr = acr


def _local_path(path: str) -> str:
    """Only a path on this host is a place to return to (no open redirect)."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 1000:
        return "/account"
    return path


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def current_login(request: Request, session: Session) -> CurrentLogin | None:
    runtime = runtime_of(request)
    found = login_sessions.resolve(session, runtime.settings, session_cookie(request))
    return CurrentLogin(*found) if found else None


def require_login(
    request: Request, session: Session, *, next_path: str | None = None, acr: str | None = None
) -> CurrentLogin:
    """The logged-in person, or :class:`LoginRequired` (with MFA when ``acr`` is "2")."""
    found = current_login(request, session)
    target = next_path or here(request)
    if found is None:
        raise LoginRequired(target, acr=acr)
    if acr == ACR_MFA and not found.used_mfa:
        raise LoginRequired(target, acr=acr)
    return found


def require_recent_login(
    request: Request,
    session: Session,
    *,
    next_path: str | None = None,
    seconds: int = RECENT_LOGIN_SECONDS,
    acr: str | None = None,
) -> CurrentLogin:
    """Like :func:`require_login`, and the login happened within ``seconds``. For a POST, pass
    ``next_path`` = the page holding the form: the person returns there after logging in."""
    found = require_login(request, session, next_path=next_path, acr=acr)
    if not found.logged_in_within(seconds):
        raise LoginRequired(next_path or here(request), max_age=seconds, acr=acr)
    return found


def ensure_console_client(session: Session, settings: Settings) -> Client:
    """The built-in client, created on first use (any worker; a lost race is harmless)."""
    redirect_uri = settings.issuer_url.rstrip("/") + CALLBACK_PATH
    client = client_repo.get_by_client_id(session, CONSOLE_CLIENT_ID)
    if client is None:
        try:
            with session.begin_nested():
                client = client_repo.add(
                    session,
                    Client(
                        client_id=CONSOLE_CLIENT_ID,
                        name="Tangsel SSO",
                        description="The provider's own pages (account, admin, developers).",
                        client_type="public",
                        redirect_uris=[redirect_uri],
                        post_logout_redirect_uris=[settings.issuer_url.rstrip("/") + "/"],
                        grant_types=["authorization_code"],
                        scope="openid",
                        token_endpoint_auth_method="none",
                        trusted=True,
                        status="active",
                    ),
                )
        except IntegrityError:
            client = client_repo.get_by_client_id(session, CONSOLE_CLIENT_ID)
            if client is None:  # made by another request, then gone: try again shortly
                raise ServiceUnavailable(
                    "error.service_unavailable", detail="console client not found"
                ) from None
    elif client.redirect_uris != [redirect_uri]:  # the issuer URL changed
        client_repo.update_client(session, client, redirect_uris=[redirect_uri])
    return client


def login_redirect(request: Request, exc: LoginRequired) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    with runtime.sessions() as session:
        ensure_console_client(session, settings)
        session.commit()
    state = random_token(nbytes=24)
    # PKCE is required for public clients; the verifier is thrown away on purpose.
    verifier = random_token(nbytes=32)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "client_id": CONSOLE_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": settings.issuer_url.rstrip("/") + CALLBACK_PATH,
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if exc.max_age is not None:
        params["max_age"] = str(exc.max_age)
    if exc.acr:
        params["acr_values"] = exc.acr
    lang = request.query_params.get("lang") or read_cookie(request, "lang")
    if lang:
        params["ui_locales"] = lang
    response = RedirectResponse("/authorize?" + urlencode(params), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        cookie_name(settings, STATE_COOKIE),
        f"{state}|{_local_path(exc.next_path)}",
        max_age=settings.interaction_lifetime,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",  # a __Host- cookie must be Path=/
    )
    return response


@router.get(CALLBACK_PATH)
def callback(request: Request) -> Response:
    cookie = read_cookie(request, STATE_COOKIE) or ""
    state, _, next_path = cookie.partition("|")
    got = request.query_params.get("state") or ""
    if not state or got != state:
        return render(request, "error.html", {"message": "error.interaction_expired"}, status=400)
    # On an error (the person cancelled, or could not log in) back to the front page.
    target = "/" if request.query_params.get("error") else _local_path(next_path)
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    clear_cookie(request, response, STATE_COOKIE)
    return response


def install(app: FastAPI) -> None:
    """Register the :class:`LoginRequired` handler (the router is in ``sso.app.ROUTERS``)."""

    async def _handler(request: Request, exc: Exception) -> Response:
        from starlette.concurrency import run_in_threadpool

        assert isinstance(exc, LoginRequired)
        return await run_in_threadpool(login_redirect, request, exc)

    app.add_exception_handler(LoginRequired, _handler)
