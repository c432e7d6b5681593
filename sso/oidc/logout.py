"""RP-Initiated Logout 1.0 (§2, §3).

:func:`validate_logout_request` checks ``id_token_hint`` (one of our ID tokens, signature and
issuer checked, expiry *not*: §2 says an expired hint is still accepted), ``client_id`` (must be
an audience of the hint when both are given), ``post_logout_redirect_uri`` (exact string match
against the identified client's registration; without a client there is nothing to match, so
it is refused), ``state``, ``ui_locales`` and ``logout_hint``. Any error is shown as a page,
never redirected (§3: an unverified URI is an open redirector). :func:`end_session` ends the
login session, revokes the grants bound to it (not the ``offline_access`` ones) and enqueues the
back-channel logouts in the same transaction; :mod:`sso.oidc.backchannel` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.config import Settings
from sso.core.events import Event
from sso.db.models import Client, LoginSession
from sso.oidc.authorize import MAX_PARAM_LENGTH, single_values
from sso.oidc.keys import MAX_JWT_LENGTH, InvalidJWT, KeyService
from sso.oidc.session_end import enqueue_backchannel_logouts, revoke_session_grants
from sso.storage import audit
from sso.storage import clients as client_repo

# ---------------------------------------------------------------------------- RP-Initiated


class LogoutRequestError(Exception):
    """Shown to the person as a page: ``message`` is a catalogue key, ``detail`` is for logs."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class LogoutRequest:
    client: Client | None = None
    hint_sub: str | None = None
    hint_sid: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    ui_locales: str | None = None
    logout_hint: str | None = None

    @property
    def client_id(self) -> str | None:
        return self.client.client_id if self.client else None

    def is_tied_to(self, login: LoginSession) -> bool:
        """The hint proves the RP is asking about this browser's session (or its person)."""
        return self.hint_sub is not None and (
            self.hint_sid == login.id or self.hint_sub == login.user_id
        )

    def redirect_target(self) -> str | None:
        """``post_logout_redirect_uri`` with ``state`` added to its query (§3)."""
        uri = self.post_logout_redirect_uri
        if uri is None:
            return None
        if self.state is None:
            return uri
        parts = urlsplit(uri)
        query = "&".join(q for q in (parts.query, urlencode({"state": self.state})) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))

    def form_fields(self) -> dict[str, str | None]:
        """What the confirmation form carries back (the hint is replaced by its client_id)."""
        return {
            "client_id": self.client_id,
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
            "state": self.state,
            "ui_locales": self.ui_locales,
        }


def _hint(
    session: Session, keys: KeyService, settings: Settings, hint: str
) -> tuple[str, str | None, str | None]:
    """(client_id, sub, sid) of a valid ``id_token_hint``."""
    if len(hint) > MAX_JWT_LENGTH:
        raise LogoutRequestError("error.invalid_request", "id_token_hint too long")
    try:
        # ID tokens carry no typ; refusing the others keeps an access or logout token out.
        claims = keys.verify_jwt(
            hint,
            typ=("jwt", None),
            issuer=settings.issuer_url,
            check_exp=False,
            session=session,  # never a second session beside the request's
        )
    except InvalidJWT as exc:
        raise LogoutRequestError("error.invalid_request", f"id_token_hint: {exc.reason}") from None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    client_id = audiences[0] if len(audiences) == 1 else claims.get("azp")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not isinstance(client_id, str) or not isinstance(sub, str):
        raise LogoutRequestError("error.invalid_request", "id_token_hint has no aud or sub")
    return client_id, sub, sid if isinstance(sid, str) else None


def validate_logout_request(
    session: Session, keys: KeyService, settings: Settings, multi: Mapping[str, Sequence[str]]
) -> LogoutRequest:
    """Check a logout request (§2, §3); raises :class:`LogoutRequestError`."""
    values, duplicated = single_values(multi)
    if duplicated:
        raise LogoutRequestError(
            "error.invalid_request", f"parameter given more than once: {sorted(duplicated)}"
        )
    for name, value in values.items():
        if name != "id_token_hint" and len(value) > MAX_PARAM_LENGTH:
            raise LogoutRequestError("error.invalid_request", f"parameter {name} is too long")
    client_id = values.get("client_id")
    sub = sid = None
    if "id_token_hint" in values:
        hinted, sub, sid = _hint(session, keys, settings, values["id_token_hint"])
        if client_id is not None and client_id != hinted:
            raise LogoutRequestError("error.invalid_request", "client_id is not the hint's aud")
        client_id = hinted
    client = None
    if client_id is not None:
        client = client_repo.get_by_client_id(session, client_id[:64])
        if client is None or client.status != "active" or client.client_id != client_id:
            raise LogoutRequestError("error.unknown_client", "unknown or inactive client")
    uri = values.get("post_logout_redirect_uri")
    if uri is not None:
        if client is None:
            raise LogoutRequestError(
                "error.invalid_redirect_uri",
                "post_logout_redirect_uri without id_token_hint or client_id",
            )
        # Exact string comparison, no normalisation (§3: "MUST exactly match").
        if uri not in client.post_logout_redirect_uris:
            raise LogoutRequestError(
                "error.invalid_redirect_uri", "post_logout_redirect_uri is not registered"
            )
    return LogoutRequest(
        client=client,
        hint_sub=sub,
        hint_sid=sid,
        post_logout_redirect_uri=uri,
        state=values.get("state"),
        ui_locales=values.get("ui_locales"),
        logout_hint=values.get("logout_hint"),
    )


def end_session(
    session: Session, login: LoginSession, *, client_id: str | None, reason: str = "logout"
) -> list[str]:
    """End ``login`` and what is bound to it; returns the back-channel delivery ids to send
    once the caller has committed. A session already ended (a concurrent logout) does nothing."""
    if not login_sessions.end(session, login, reason=reason):
        return []
    revoked = revoke_session_grants(session, login.id, reason=reason)
    audit.record(
        session,
        Event.USER_LOGOUT,
        actor_id=login.user_id,
        target_type="session",
        target_id=login.id,
        client_id=client_id,
        grants_revoked=len(revoked),
    )
    return enqueue_backchannel_logouts(session, login, reason=reason)
