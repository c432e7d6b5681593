"""The answer to an authorization request (OAuth 2.0 §4.1.2 and §4.1.2.1, RFC 9207 ``iss``):
a single-use code bound to the grant, a device's approval (RFC 8628), or an error; and the
end of the interaction that asked for it, consumed exactly once (another tab may have
finished it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.crypto import keyed_hash, random_token
from sso.core.events import Event
from sso.db.models import Client, LoginSession, User
from sso.oauth import device as device_flow
from sso.oidc.authorize import AuthorizationParams
from sso.oidc.interaction import Interaction
from sso.storage import audit
from sso.storage import consents as consent_repo
from sso.storage import grants as grant_repo
from sso.storage import interactions as repo
from sso.storage import sessions as session_repo


@dataclass(frozen=True)
class AuthorizationResponse:
    """Where to send the browser and what to send (``code`` or ``error``), plus ``iss``."""

    redirect_uri: str
    response_mode: str
    params: dict[str, str]


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
        Event.CODE_ISSUED,
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


def complete(ia: Interaction) -> bool:
    """Consume the interaction (exactly once); False when it was already used."""
    return repo.consume(ia.session, ia.row.id_hash)


def finish(ia: Interaction, current: tuple[LoginSession, User]) -> AuthorizationResponse | None:
    """Answer the parked request with a code (or a device's approval) bound to ``current``;
    None when the interaction was already used (another tab finished it)."""
    if not complete(ia):
        return None
    return issue_code(ia.session, ia.settings, ia.client, ia.params, *current)


def deny(ia: Interaction, error: str, description: str) -> AuthorizationResponse | None:
    """Answer the parked request with an error (the person declined or cancelled); None when
    the interaction was already used."""
    if not complete(ia):
        return None
    params = ia.params
    if params.device_code_hash is not None:  # RFC 8628: the device's poll is refused
        device_flow.deny(
            ia.session,
            params.device_code_hash,
            client_id=ia.client.client_id,
            actor_id=ia.current[1].id if ia.current else None,
        )
    return error_response(
        ia.settings, params.redirect_uri, params.response_mode, params.state, error, description
    )


def refuse(ia: Interaction, user: User) -> bool:
    """End the interaction of a person an app in development may not log in
    (:func:`sso.oauth.app_review.may_log_in`); False when it was already used."""
    if not complete(ia):
        return False
    if ia.params.device_code_hash is not None:  # RFC 8628: the device's poll is refused
        device_flow.deny(
            ia.session, ia.params.device_code_hash, client_id=ia.client.client_id, actor_id=user.id
        )
    audit.record(
        ia.session,
        Event.CLIENT_LOGIN_REFUSED,
        actor_id=user.id,
        target_type="client",
        target_id=ia.client.client_id,
        client_id=ia.client.client_id,
        outcome="failure",
        reason="in_development",
    )
    return True


def remember_consent(
    session: Session, user: User, client: Client, params: AuthorizationParams
) -> None:
    consent_repo.grant(session, user.id, client.client_id, params.scope)
    audit.record(
        session,
        Event.CONSENT_GRANTED,
        actor_id=user.id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        scopes=params.scope,
    )
