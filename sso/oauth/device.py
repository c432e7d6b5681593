"""The OAuth 2.0 Device Authorization Grant (RFC 8628): the device authorization endpoint
(§3.1–3.2), the person's approval (§3.3, driven by the web layer's ``/device`` page and the
interaction pages).

The device authenticates as at /token (a public client sends only ``client_id``) and must be
registered for ``urn:ietf:params:oauth:grant-type:device_code``; ``scope`` is narrowed to the
client's registered scopes as at /authorize. It gets a ``device_code`` (random, prefixed, stored
as a keyed hash) and a ``user_code`` of 8 letters from an alphabet without vowels or look-alikes
(§6.1), shown as ``XXXX-XXXX`` and accepted in any case, with or without the dash. Both live
10 minutes.

The ``device_code`` grant at /token (§3.4–3.5) that the device then polls is
:mod:`sso.oauth.grants.device_code`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
)
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _Endpoint
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.events import Event
from sso.db.models import Client, DeviceAuthorization, LoginSession, User
from sso.db.models.devices import PENDING
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.clients import AUTH_METHODS
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import IssuingServer
from sso.storage import audit
from sso.storage import devices as repo
from sso.storage import grants as grant_repo
from sso.storage import sessions as session_repo

VERIFICATION_PATH = "/device"
DONE_PATH = "/device/done"
DEVICE_CODE_LIFETIME = 600
POLL_INTERVAL = 5
# RFC 8628 §6.1: no vowels (no words), nothing that looks like a digit; 20^8 ≈ 2.6e10 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
_USER_CODE_SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212")
_DRAWS = 5

DEVICE_CODE_ISSUED = Event.DEVICE_CODE_ISSUED
DEVICE_CODE_APPROVED = Event.DEVICE_CODE_APPROVED
DEVICE_CODE_DENIED = Event.DEVICE_CODE_DENIED
DEVICE_CODE_REUSED = Event.DEVICE_CODE_REUSED


# ---------------------------------------------------------------------------- codes


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalise_user_code(text: str) -> str | None:
    """The 8 letters of a typed user code (any case, dashes and spaces ignored), or None."""
    if len(text) > 64:
        return None
    letters = "".join(c for c in text.upper() if not c.isspace() and c not in _USER_CODE_SEPARATORS)
    if len(letters) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in letters):
        return None
    return letters


def hash_device_code(secret_key: bytes, device_code: str) -> str:
    return keyed_hash(secret_key, device_code, "device_code")


def hash_user_code(secret_key: bytes, normalised: str) -> str:
    return keyed_hash(secret_key, normalised, "user_code")


# ---------------------------------------------------------------------------- §3.1–3.2


def granted_scope(client: Client, requested: str | None) -> str:
    """The requested scopes the client is registered for (as at /authorize), or invalid_scope."""
    allowed = set(client.scopes)
    granted = [s for s in dict.fromkeys((requested or "").split()) if s in allowed]
    if not granted:
        raise InvalidScopeError("No requested scope is allowed for this client.")
    return " ".join(granted)


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str  # XXXX-XXXX


def start(session: Session, secret_key: bytes, client: Client, scope: str) -> DeviceStart:
    """Store a new pending device authorization; returns its two codes."""
    device_code = random_token("device_code")
    for _ in range(_DRAWS):
        user_code = new_user_code()
        row = DeviceAuthorization(
            device_code_hash=hash_device_code(secret_key, device_code),
            user_code_hash=hash_user_code(secret_key, user_code),
            client_id=client.client_id,
            scope=scope,
            status=PENDING,
            interval=POLL_INTERVAL,
            expires_at=now() + timedelta(seconds=DEVICE_CODE_LIFETIME),
        )
        if repo.add(session, row):
            break
    else:  # five collisions in a space of 2.6e10: something else is wrong
        raise RuntimeError("could not draw a free user code")
    audit.record(
        session,
        DEVICE_CODE_ISSUED,
        client_id=client.client_id,
        target_type="client",
        target_id=client.client_id,
        scope=scope,
    )
    return DeviceStart(device_code, display_user_code(user_code))


class DeviceAuthorizationEndpoint(_Endpoint):  # type: ignore[misc]
    """POST /device_authorization (RFC 8628 §3.1, §3.2)."""

    CLIENT_AUTH_METHODS = list(AUTH_METHODS)
    EXPIRES_IN = DEVICE_CODE_LIFETIME
    INTERVAL = POLL_INTERVAL

    def create_endpoint_response(
        self, request: OAuthRequest
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: ClientAdapter = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device authorization grant.")
        scope = granted_scope(client.row, request.form.get("scope"))
        server: IssuingServer = self.server
        started = start(request.db, server.secret_key, client.row, scope)
        verification_uri = server.issuer + VERIFICATION_PATH
        body = {
            "device_code": started.device_code,
            "user_code": started.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={started.user_code}",
            "expires_in": self.EXPIRES_IN,
            "interval": self.INTERVAL,
        }
        return 200, body, list(default_json_headers)


# ---------------------------------------------------------------------------- §3.3 (the person)


def find_pending(session: Session, secret_key: bytes, user_code: str) -> DeviceAuthorization | None:
    """The pending, unexpired request a person's typed code names, else None."""
    normalised = normalise_user_code(user_code)
    if normalised is None:
        return None
    row = repo.get_by_user_code(session, hash_user_code(secret_key, normalised))
    if row is None or row.status != PENDING or row.expires_at <= now():
        return None
    return row


def approve(
    session: Session, device_code_hash: str, *, client: Client, login: LoginSession, user: User
) -> bool:
    """The person said yes: make the grant the device's tokens will belong to. False when the
    request expired or was decided meanwhile (nothing is written then)."""
    row = repo.get(session, device_code_hash)
    if row is None or row.client_id != client.client_id:
        return False
    amr = list(login.amr)
    if not repo.approve(
        session,
        device_code_hash,
        user_id=user.id,
        login_session_id=login.id,
        auth_time=login.auth_time,
        amr=amr,
        acr=login.acr,
    ):
        return False
    grant = grant_repo.create_grant(
        session,
        client_id=client.client_id,
        user_id=user.id,
        scope=row.scope,
        login_session_id=login.id,
        auth_time=login.auth_time,
        amr=amr,
        acr=login.acr,
        idp=login.idp,
    )
    repo.attach_grant(session, device_code_hash, grant.id)
    session_repo.add_client(session, login.id, client.client_id)  # for back-channel logout
    audit.record(
        session,
        DEVICE_CODE_APPROVED,
        actor_id=user.id,
        client_id=client.client_id,
        target_type="client",
        target_id=client.client_id,
        grant_id=grant.id,
    )
    return True


def deny(
    session: Session, device_code_hash: str, *, client_id: str, actor_id: str | None = None
) -> bool:
    """The person said no (or cancelled): the device's next poll gets ``access_denied``."""
    denied = repo.deny(session, device_code_hash)
    if denied:
        audit.record(
            session,
            DEVICE_CODE_DENIED,
            actor_id=actor_id,
            client_id=client_id,
            target_type="client",
            target_id=client_id,
        )
    return denied


__all__ = [
    "DEVICE_CODE_GRANT_TYPE",
    "DONE_PATH",
    "VERIFICATION_PATH",
    "DeviceAuthorizationEndpoint",
    "approve",
    "deny",
    "display_user_code",
    "find_pending",
    "normalise_user_code",
]
