"""The device code grant at /token (RFC 8628 §3.4–3.5); the device authorization endpoint and
the person's answer are :mod:`sso.oauth.device`.

Polling answers, in this order: a code that is unknown or issued to another client is
``invalid_grant``; one already redeemed is ``invalid_grant`` and, as with a replayed
authorization code, revokes the grant of the first redemption (whoever holds a copy of the
device code cannot keep tokens alive unnoticed); an expired one ``expired_token``; a denied
one ``access_denied``; a pending one ``authorization_pending``, or ``slow_down`` when it came
sooner than ``interval`` seconds after the previous poll (the interval then grows by 5 s, and
the failed request's rollback does not undo that bookkeeping). An approved one is consumed
atomically and answered like an authorization-code exchange: access token, a refresh token by
:func:`~sso.oauth.grants.base.issues_refresh_token`, and the ID token the OpenID extension adds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628 import AuthorizationPendingError, ExpiredTokenError, SlowDownError
from authlib.oauth2.rfc8628 import DeviceCodeGrant as AuthlibDeviceCodeGrant
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import DeviceAuthorization
from sso.db.models.devices import APPROVED, CONSUMED, DENIED, PENDING
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.clients import AUTH_METHODS
from sso.oauth.device import DEVICE_CODE_REUSED, hash_device_code
from sso.oauth.grants.base import TokenGrant
from sso.storage import devices as repo
from sso.storage import grants as grant_repo


class DeviceCodeGrant(TokenGrant, AuthlibDeviceCodeGrant):  # type: ignore[misc]
    """grant_type=urn:ietf:params:oauth:grant-type:device_code at /token."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    device: DeviceAuthorization

    def validate_token_request(self) -> None:
        device_code = self.request.form.get("device_code")
        if not device_code:
            raise InvalidRequestError("Missing 'device_code' parameter.")
        client: ClientAdapter = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use the device code grant.")
        self.request.client = client
        row = None
        if len(device_code) <= 200:
            row = repo.get(self.db, hash_device_code(self.server.secret_key, device_code))
        if row is None or row.client_id != client.client_id:
            raise InvalidGrantError("The device code is invalid.")
        if row.status == CONSUMED:
            self._reused(row)
        t = now()
        if row.expires_at <= t:
            raise ExpiredTokenError("The device code expired.")
        if row.status == DENIED:
            raise AccessDeniedError("The person denied the request.")
        if row.status == PENDING:
            self._pending(row, t)
        if row.status != APPROVED:  # not reached: the statuses are exhaustive
            raise InvalidGrantError("The device code is invalid.")
        self.device = row

    def _pending(self, row: DeviceAuthorization, at: datetime) -> NoReturn:
        decision = repo.poll(row, at)
        device_code_hash = row.device_code_hash

        def remember(session: Session) -> None:  # kept although the request is rolled back
            repo.record_poll(session, device_code_hash, at=at, interval=decision.interval)

        self.request.on_error.append(remember)
        if decision.slow_down:
            raise SlowDownError(f"Poll at most every {decision.interval} seconds.")
        raise AuthorizationPendingError("The person has not answered yet.")

    def _reused(self, row: DeviceAuthorization) -> NoReturn:
        if row.grant_id is not None:
            self.revoke_grant_on_error(row.grant_id, DEVICE_CODE_REUSED)
        raise InvalidGrantError("The device code was already used.")

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        row = self.device
        if not repo.consume(self.db, row.device_code_hash):
            current = repo.get(self.db, row.device_code_hash)
            if current is not None and current.status == CONSUMED:
                self._reused(current)  # another poll redeemed it a moment ago
            raise ExpiredTokenError("The device code expired.")
        grant = grant_repo.get_grant(self.db, row.grant_id) if row.grant_id else None
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The grant of this device code was revoked.")
        body = self.issue_for_person(grant, nonce=None)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


__all__ = ["DeviceCodeGrant"]
