"""Interactions: an authorization request parked server-side while the person logs in and
consents, then resumed (the node-oidc-provider model).

The interaction id travels in the URL; the row stores only its keyed hash and the keyed hash
of a per-browser cookie, so a leaked interaction URL is useless in another browser.

Second factors: after a correct password, a person who has a factor (or must have one, or whose
client asked ``acr_values=2``) is *held*: the row names them and keeps the methods used so far,
but no login session exists until the second factor is done, so SSO never hands out a
password-only session to someone who owes a second factor. A live session with ``acr`` "1" that
meets a request for "2" gets the step-up: the second factor only, then the session is upgraded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.config import Settings
from sso.core import events
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.db.models import AuthorizationRequest, Client, LoginSession, User
from sso.oauth import developer_apps
from sso.oauth import device as device_flow
from sso.oidc.authorize import AuthorizationParams, redirect_error
from sso.oidc.keys import InvalidJWT, KeyService, UnknownKey
from sso.storage import audit
from sso.storage import consents as consent_repo
from sso.storage import grants as grant_repo
from sso.storage import interactions as repo
from sso.storage import sessions as session_repo
from sso.storage import users as user_repo

BROWSER_COOKIE = "sso_browser"
Step = Literal["login", "mfa", "enrol", "consent", "complete", "refused"]
PENDING = "_pending"


class InteractionExpired(Exception):
    """The interaction is unknown, used, expired or belongs to another browser."""


@dataclass(frozen=True)
class Next:
    """What the person still has to do; ``current`` is the session the result will be bound
    to (None while a second factor is owed after a password), ``user`` who has to do it."""

    step: Step
    current: tuple[LoginSession, User] | None = None
    user: User | None = None


@dataclass(frozen=True)
class AuthorizationResponse:
    """Where to send the browser and what to send (``code`` or ``error``), plus ``iss``."""

    redirect_uri: str
    response_mode: str
    params: dict[str, str]


def _hash(settings: Settings, value: str, purpose: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), value, purpose)


# needs_login's ``hinted_sub`` for a hint signed by a key we no longer publish: it names
# someone we cannot confirm, so whoever is logged in must log in again (never answered at once).
UNVERIFIABLE_HINT = ""


def hint_subject(
    session: Session, keys: KeyService, settings: Settings, params: AuthorizationParams
) -> str | None:
    """``sub`` of a valid ``id_token_hint`` (an expired one still identifies the person);
    :data:`UNVERIFIABLE_HINT` when its key is no longer published (an old ID token).

    The key set is read in the request's ``session``: a second session here would wait for
    the write lock the request's holds on SQLite, and take a second connection elsewhere."""
    if not params.id_token_hint:
        return None
    try:
        claims = keys.verify_jwt(
            params.id_token_hint, issuer=settings.issuer_url, check_exp=False,
            typ=("jwt", None), session=session,
        )
    except UnknownKey:
        return UNVERIFIABLE_HINT
    except InvalidJWT:
        raise redirect_error(
            params, "invalid_request", "id_token_hint is not a valid ID token"
        ) from None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def needs_login(
    settings: Settings,
    params: AuthorizationParams,
    current: tuple[LoginSession, User] | None,
    hinted_sub: str | None,
) -> bool:
    if current is None or "login" in params.prompt or "select_account" in params.prompt:
        return True
    row, user = current
    if params.max_age is not None and (now() - row.auth_time).total_seconds() > params.max_age:
        return True
    return hinted_sub is not None and hinted_sub != user.id


def requested_acr(params: AuthorizationParams) -> str | None:
    """The level the client asked for: the first known value of ``acr_values`` (its most
    preferred), or an essential ``acr`` claim request (OIDC Core §5.5.1.1)."""
    wanted = [v for v in params.acr_values if v in (mfa.ACR_PASSWORD, mfa.ACR_MFA)]
    claim = (params.claims or {}).get("id_token", {}).get("acr")
    if isinstance(claim, dict) and claim.get("essential"):
        values = claim.get("values") or ([claim["value"]] if "value" in claim else [])
        if isinstance(values, list) and values and all(v == mfa.ACR_MFA for v in values):
            return mfa.ACR_MFA
    return wanted[0] if wanted else None


def needs_second_factor(
    session: Session,
    settings: Settings,
    params: AuthorizationParams,
    current: tuple[LoginSession, User],
) -> bool:
    """A live session that does not reach the level this request (or the policy) needs."""
    row, user = current
    if row.acr == mfa.ACR_MFA:
        return False
    return requested_acr(params) == mfa.ACR_MFA or mfa.mfa_required(session, settings, user)


def needs_second_factor_after_password(
    session: Session, settings: Settings, params: AuthorizationParams, user: User
) -> bool:
    return (
        requested_acr(params) == mfa.ACR_MFA
        or mfa.has_mfa(session, user.id)
        or mfa.mfa_required(session, settings, user)
    )


def needs_consent(
    session: Session, client: Client, params: AuthorizationParams, user_id: str
) -> bool:
    if params.device_code_hash is not None:
        # RFC 8628 §5.4 (remote phishing): a user code can be sent to a victim by an attacker
        # holding the device. The person confirms which app and device they connect every
        # time, even for trusted clients and remembered consent.
        return True
    if "consent" in params.prompt:
        # OIDC Core §3.1.2.1: the client asked that the person be prompted for consent; that
        # holds for first-party (trusted) clients and over a remembered consent too.
        return True
    if client.trusted:
        return False
    remembered = consent_repo.get(session, user_id, client.client_id)
    return remembered is None or not set(params.scope) <= set(remembered.scopes)


def park(
    session: Session,
    settings: Settings,
    params: AuthorizationParams,
    *,
    browser_value: str,
    login_required: bool,
) -> str:
    """Store the request; returns the interaction id for the URL."""
    interaction_id = random_token("interaction")
    data = params.to_json()
    data["_login_required"] = login_required
    repo.add(
        session,
        AuthorizationRequest(
            id_hash=_hash(settings, interaction_id, "interaction"),
            browser_binding=_hash(settings, browser_value, "browser"),
            client_id=params.client_id,
            params=data,
            expires_at=now() + timedelta(seconds=settings.interaction_lifetime),
        ),
    )
    return interaction_id


def load(
    session: Session, settings: Settings, interaction_id: str, browser_value: str | None
) -> tuple[AuthorizationRequest, AuthorizationParams, bool]:
    """The live interaction for this browser: (row, params, login_required)."""
    if not interaction_id or len(interaction_id) > 200 or not browser_value:
        raise InteractionExpired()
    row = repo.get(session, _hash(settings, interaction_id, "interaction"))
    if (
        row is None
        or row.consumed_at is not None
        or row.expires_at <= now()
        or row.browser_binding != _hash(settings, browser_value, "browser")
    ):
        raise InteractionExpired()
    data = dict(row.params)
    login_required = bool(data.pop("_login_required", False))
    data.pop(PENDING, None)
    return row, AuthorizationParams.from_json(data), login_required


def next_step(
    session: Session,
    settings: Settings,
    row: AuthorizationRequest,
    params: AuthorizationParams,
    login_required: bool,
    client: Client,
    current: tuple[LoginSession, User] | None,
) -> Next:
    """What the person still has to do, and the session the result will be bound to."""
    held = pending_amr(row)
    if row.login_session_id is not None:
        # Logged in during this interaction: that session, if still live, is the one.
        live = session_repo.get(session, row.login_session_id)
        if (
            live is None
            or not login_sessions.is_live(live, settings)
            or current is None
            or current[0].id != live.id
        ):
            return Next("login")
    elif held is not None and row.user_id is not None:
        user = user_repo.get(session, row.user_id)
        if user is None or not user.is_active:
            return Next("login")
        return Next("mfa" if mfa.has_mfa(session, user.id) else "enrol", None, user)
    elif login_required or current is None:
        return Next("login")
    if current is None:  # the first branch checked it; said again for the type checker
        return Next("login")
    if not developer_apps.may_log_in(session, client, current[1]):  # an app in development
        return Next("refused", current, current[1])
    if needs_second_factor(session, settings, params, current):
        user = current[1]
        return Next("mfa" if mfa.has_mfa(session, user.id) else "enrol", current, user)
    if needs_consent(session, client, params, current[1].id):
        return Next("consent", current, current[1])
    return Next("complete", current, current[1])


def issue_code(
    session: Session,
    settings: Settings,
    client: Client,
    params: AuthorizationParams,
    login: LoginSession,
    user: User,
) -> AuthorizationResponse:
    """Create the grant and a single-use code bound to client, redirect URI and PKCE challenge."""
    if params.device_code_hash is not None:
        # RFC 8628: the device fetches its tokens itself; the browser is only told it is done.
        approved = device_flow.approve(
            session, params.device_code_hash, client=client, login=login, user=user
        )
        return AuthorizationResponse(
            params.redirect_uri, "query", {} if approved else {"error": "expired_token"}
        )
    grant = grant_repo.create_grant(
        session,
        client_id=client.client_id,
        user_id=user.id,
        scope=" ".join(params.scope),
        login_session_id=login.id,
        auth_time=login.auth_time,
        amr=list(login.amr),
        acr=login.acr,
        idp=login.idp,
        claims=params.claims,
    )
    code = random_token("code")
    grant_repo.add_code(
        session,
        code_hash=keyed_hash(settings.secret_key_bytes(), code, "code"),
        grant=grant,
        # RFC 6749 §4.1.3: /token must repeat redirect_uri only if the request carried it.
        redirect_uri=params.redirect_uri if params.redirect_uri_given else None,
        nonce=params.nonce,
        code_challenge=params.code_challenge,
        code_challenge_method=params.code_challenge_method,
        lifetime=settings.authorization_code_lifetime,
    )
    session_repo.add_client(session, login.id, client.client_id)
    audit.record(
        session,
        events.CODE_ISSUED,
        actor_id=user.id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        grant_id=grant.id,
    )
    out = {"code": code}
    if params.state is not None:
        out["state"] = params.state
    out["iss"] = settings.issuer_url
    return AuthorizationResponse(params.redirect_uri, params.response_mode, out)


def error_response(
    settings: Settings,
    redirect_uri: str,
    response_mode: str,
    state: str | None,
    error: str,
    description: str,
) -> AuthorizationResponse:
    out = {"error": error, "error_description": description}
    if state is not None:
        out["state"] = state
    out["iss"] = settings.issuer_url
    return AuthorizationResponse(redirect_uri, response_mode, out)


def refuse(
    session: Session, settings: Settings, row: AuthorizationRequest, client: Client,
    params: AuthorizationParams, user: User,
) -> bool:
    """End the interaction of a person an app in development may not log in
    (:func:`sso.oauth.developer_apps.may_log_in`); False when it was already used."""
    if not complete(session, settings, row):
        return False
    if params.device_code_hash is not None:  # RFC 8628: the device's poll is refused
        device_flow.deny(session, params.device_code_hash, client_id=client.client_id,
                         actor_id=user.id)
    audit.record(
        session, events.CLIENT_LOGIN_REFUSED, actor_id=user.id, target_type="client",
        target_id=client.client_id, client_id=client.client_id, outcome="failure",
        reason="in_development",
    )
    return True


def complete(session: Session, settings: Settings, row: AuthorizationRequest) -> bool:
    """Consume the interaction (exactly once)."""
    return repo.consume(session, row.id_hash)


def remember_consent(
    session: Session, user: User, client: Client, params: AuthorizationParams
) -> None:
    consent_repo.grant(session, user.id, client.client_id, params.scope)
    audit.record(
        session,
        events.CONSENT_GRANTED,
        actor_id=user.id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        scopes=params.scope,
    )


def attach_login(
    session: Session, row: AuthorizationRequest, login: LoginSession, user: User
) -> None:
    row.user_id = user.id
    row.login_session_id = login.id
    if PENDING in row.params:
        row.params = {k: v for k, v in row.params.items() if k != PENDING}
    session.flush()


def hold_for_second_factor(
    session: Session, row: AuthorizationRequest, user: User, amr: list[str]
) -> None:
    """The password was right; the login completes only after a second factor."""
    row.user_id = user.id
    row.login_session_id = None
    row.params = {**row.params, PENDING: {"amr": list(amr)}}
    session.flush()


def pending_amr(row: AuthorizationRequest) -> list[str] | None:
    """Methods already proven by a person held for a second factor, else None."""
    held = row.params.get(PENDING)
    if not isinstance(held, dict):
        return None
    return [str(v) for v in held.get("amr") or []]
