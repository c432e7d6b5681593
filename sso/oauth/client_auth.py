"""Client authentication at /token, /introspect, /revoke and /device_authorization (RFC 6749
§2.3, OIDC Core §9).

A request uses exactly one method, and it must be the one the client registered
(``token_endpoint_auth_method``): ``client_secret_basic``, ``client_secret_post``,
``private_key_jwt`` (RFC 7523, see ``sso.oauth.assertions``) or ``none`` (public clients). Only
``active`` clients authenticate. Every failure is ``invalid_client`` with status 401 and
``WWW-Authenticate: Basic`` (RFC 6749 §5.2), audited as ``client.auth_failed``. Secret guessing
is counted per client_id and IP (``sso.accounts.throttle``) and answered with 429 while locked.

:class:`ClientAuthentication` is a mixin of :class:`sso.oauth.server.TokenServer`: Authlib calls
its ``authenticate_client`` from every grant and endpoint.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import unquote_plus

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidRequestError
from sqlalchemy.orm import Session

from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core import events
from sso.core.events import Event
from sso.db.models import Client
from sso.oauth import redirect_uris
from sso.oauth.assertions import AssertionRejected, verify_client_assertion
from sso.oauth.clients import check_secret
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import TokenIssuer
from sso.storage import audit
from sso.storage import client_assertions as assertion_repo

REALM = "tangsel-sso"
_printable = re.compile(r"^[\x20-\x7E\u00A0-\uFFFF]*$")


class ClientAuthFailed(InvalidClientError):  # type: ignore[misc]
    """``invalid_client``, always 401 with a Basic challenge (RFC 6749 §5.2)."""

    status_code = 401

    def get_headers(self) -> list[tuple[str, str]]:
        challenge = f'Basic realm="{REALM}", charset="UTF-8"'
        return [*default_json_headers, ("WWW-Authenticate", challenge)]


class ClientThrottled(InvalidClientError):  # type: ignore[misc]
    """Too many failed client authentications from this IP: 429 with ``Retry-After``."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description="too many failed attempts")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*default_json_headers, ("Retry-After", str(self.retry_after))]


class ClientAdapter(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a :class:`~sso.db.models.Client` row."""

    def __init__(self, row: Client, secret_key: bytes) -> None:
        self.row = row
        self._secret_key = secret_key

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OIDC: redirect_uri is always sent

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scopes)
        return " ".join(s for s in dict.fromkeys((scope or "").split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uris.accepts(  # the rules of /authorize (sso.oauth.redirect_uris)
            self.row.redirect_uris,
            redirect_uri,
            app_kind=self.row.app_kind,
            public=self.row.is_public,
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(self._secret_key, self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


def clean_identifier(value: str | None, limit: int = 255) -> str | None:
    """A client-supplied identifier safe to query and log (no control chars, bounded)."""
    if value is None or not value or len(value) > limit or not _printable.match(value):
        return None
    return value


def basic_credentials(header: str) -> tuple[str, str] | None:
    """client_id and secret of an HTTP Basic header (form-encoded first, RFC 6749 §2.3.1)."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


class ClientAuthentication:
    """Authlib's ``authenticate_client`` hook, for a server that has these attributes."""

    settings: Settings
    secret_key: bytes
    tokens: TokenIssuer
    throttle: Throttle

    def assertion_audiences(self) -> list[str]:
        """The ``aud`` values a client assertion may name (RFC 7523 §3)."""
        raise NotImplementedError

    def authenticate_client(
        self, request: OAuthRequest, methods: Sequence[str], endpoint: str = "token"
    ) -> ClientAdapter:
        form = request.form
        header = request.headers.get("Authorization")
        presented: list[str] = []
        if header:
            presented.append("client_secret_basic")
        if "client_secret" in form:
            presented.append("client_secret_post")
        if "client_assertion" in form or "client_assertion_type" in form:
            presented.append("private_key_jwt")
        if not presented and "client_id" in form:
            presented.append("none")
        if len(presented) > 1:
            raise InvalidRequestError("Use exactly one client authentication method.")
        if not presented:
            self._fail(request, None, "none", "no client authentication")
        method = presented[0]
        client_id, row = self._authenticate(request, method, header)
        if method not in methods:
            self._fail(request, client_id, method, "method not accepted at this endpoint")
        form_client_id = form.get("client_id")
        if form_client_id is not None and form_client_id != row.client_id:
            self._fail(request, client_id, method, "client_id does not match the credentials")
        client = ClientAdapter(row, self.secret_key)
        request.client = client
        request.auth_method = method
        return client

    def _authenticate(
        self, request: OAuthRequest, method: str, header: str | None
    ) -> tuple[str | None, Client]:
        form = request.form
        db = request.db
        secret: str | None = None
        if method == "client_secret_basic":
            credentials = basic_credentials(header or "")
            if credentials is None:
                self._fail(request, None, method, "malformed Basic credentials")
            client_id, secret = credentials
        elif method == "client_secret_post":
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        elif method == "private_key_jwt":
            return self._authenticate_assertion(request)
        else:
            client_id = form["client_id"]
        cleaned = clean_identifier(client_id, 64)
        if method != "none":
            self._check_throttle(request, cleaned or "", method)
        # Cached per process, revalidated every 2 s (sso.oauth.client_cache).
        row = self.tokens.clients.get(db, cleaned) if cleaned else None
        if row is None or row.status != "active":
            self._fail(request, cleaned, method, "unknown or inactive client")
        if row.token_endpoint_auth_method != method:
            self._fail(request, cleaned, method, "not the client's registered method")
        if method != "none" and not check_secret(self.secret_key, row, secret or ""):
            self._fail(request, cleaned, method, "wrong client secret")
        if method == "none" and not row.is_public:
            self._fail(request, cleaned, method, "confidential clients must authenticate")
        key, count = request.context.pop("throttle", (None, 0))
        if key is not None and count:
            self.throttle.reset([key], db)  # committed with the successful response
        return cleaned, row

    def _check_throttle(self, request: OAuthRequest, client_id: str, method: str) -> None:
        """Refuse with 429 while this client_id is locked for this IP; else arm :meth:`_fail`
        to count a failure (after the rollback, in the transaction that records it)."""
        key = self.throttle.key("client", client_id, events.current_context().ip or "unknown")
        state = self.throttle.peek(key, request.db)
        wait = self.throttle.seconds_left(state)
        if wait:
            endpoint = str(request.context.get("endpoint", "token"))

            def record(session: Session) -> None:
                audit.record(
                    session,
                    Event.CLIENT_AUTH_FAILED,
                    outcome="failure",
                    client_id=client_id,
                    target_type="client",
                    target_id=client_id,
                    method=method,
                    reason="throttled",
                    endpoint=endpoint,
                )

            request.on_error.append(record)
            raise ClientThrottled(wait)
        request.context["throttle"] = (key, state.count)

    def _authenticate_assertion(self, request: OAuthRequest) -> tuple[str | None, Client]:
        form = request.form
        try:
            verified = verify_client_assertion(
                request.db,
                form.get("client_assertion_type"),
                form.get("client_assertion"),
                self.assertion_audiences(),
            )
        except AssertionRejected as exc:
            self._fail(request, clean_identifier(exc.client_id, 64), "private_key_jwt", exc.reason)
        row = verified.client
        if not assertion_repo.record_assertion_jti(
            request.db, row.client_id, verified.jti, verified.expires_at
        ):
            self._fail(request, row.client_id, "private_key_jwt", "assertion jti replayed")

        def remember(session: Session) -> None:  # the jti stays used even if the request fails
            assertion_repo.record_assertion_jti(
                session, row.client_id, verified.jti, verified.expires_at
            )

        request.on_error.append(remember)
        return row.client_id, row

    def _fail(
        self, request: OAuthRequest, client_id: str | None, method: str, reason: str
    ) -> NoReturn:
        endpoint = str(request.context.get("endpoint", "token"))

        def record(session: Session) -> None:
            audit.record(
                session,
                Event.CLIENT_AUTH_FAILED,
                outcome="failure",
                client_id=client_id,
                target_type="client",
                target_id=client_id,
                method=method,
                reason=reason,
                endpoint=endpoint,
            )

        request.on_error.append(record)
        key, _count = request.context.pop("throttle", (None, 0))
        if key is not None:
            limit = self.throttle.limit(self.settings.client_secret_max_failures)

            def count_failure(session: Session) -> None:
                self.throttle.hit(key, limit, session)

            request.on_error.append(count_failure)
        raise ClientAuthFailed(description="Client authentication failed.")


__all__ = [
    "REALM",
    "ClientAdapter",
    "ClientAuthFailed",
    "ClientAuthentication",
    "ClientThrottled",
    "basic_credentials",
    "clean_identifier",
]
