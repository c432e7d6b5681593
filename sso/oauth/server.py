"""Authlib's AuthorizationServer for our token-side endpoints: /token, /introspect, /revoke and
/device_authorization.

The server is built once per process (:func:`build`, through ``sso.oidc.provider.build_server``,
held by the application's runtime) and holds no request state: every request carries its own Session
(:class:`~sso.oauth.requests.OAuthRequest`). Responses come back as :class:`OAuthResponse`, a
plain value the web layer renders (no web framework below ``sso.web``).

Client authentication is :mod:`sso.oauth.client_auth`; the grants are :mod:`sso.oauth.grants`
(one module each); the endpoints :mod:`sso.oauth.introspection` (RFC 7662),
:mod:`sso.oauth.revocation` (RFC 7009) and :mod:`sso.oauth.device` (RFC 8628 §3.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import AuthorizationServer, InvalidRequestError, OAuth2Error
from sqlalchemy.orm import Session

from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core.events import Event
from sso.oauth.assertions import ASSERTION_TYPE
from sso.oauth.client_auth import ClientAdapter, ClientAuthentication, clean_identifier
from sso.oauth.clients import AUTH_METHODS, GRANT_TYPES
from sso.oauth.device import DeviceAuthorizationEndpoint
from sso.oauth.grants import register_grants
from sso.oauth.introspection import IntrospectionEndpoint
from sso.oauth.requests import OAuthRequest
from sso.oauth.revocation import RevocationEndpoint
from sso.oauth.tokens import TokenIssuer
from sso.storage import audit

TOKEN_PATH = "/token"
INTROSPECTION_PATH = "/introspect"
REVOCATION_PATH = "/revoke"
USERINFO_PATH = "/userinfo"
TOKEN_REFUSED = Event.TOKEN_REFUSED
_DESCRIPTION_OK = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")

_bound_session: ContextVar[Session | None] = ContextVar("oauth_session", default=None)


@dataclass(frozen=True)
class OAuthResponse:
    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]] = field(default_factory=list)


class TokenServer(ClientAuthentication, AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, settings: Settings, secret_key: bytes, tokens: TokenIssuer) -> None:
        super().__init__(scopes_supported=None)
        self.settings = settings
        self.secret_key = secret_key
        self.tokens = tokens
        # Client secret guessing is counted per client_id and IP, in the request's own
        # transaction (or Redis): see sso.accounts.throttle.
        self.throttle = Throttle(settings)

    # ------------------------------------------------------------------ endpoints
    @property
    def issuer(self) -> str:
        return self.settings.issuer_url

    def token_endpoint_url(self) -> str:
        return self.issuer + TOKEN_PATH

    def assertion_audiences(self) -> list[str]:
        return [
            self.issuer,
            self.token_endpoint_url(),
            self.issuer + INTROSPECTION_PATH,
            self.issuer + REVOCATION_PATH,
        ]

    def token_response(self, request: OAuthRequest) -> OAuthResponse:
        request.context["endpoint"] = "token"
        with self.bound(request.db):
            if "grant_type" not in request.form:
                return self.handle_error_response(
                    request, InvalidRequestError("Missing 'grant_type' parameter.")
                )
            response: OAuthResponse = self.create_token_response(request)
            return response

    def endpoint_response(self, name: str, request: OAuthRequest) -> OAuthResponse:
        """``introspection`` or ``revocation``."""
        request.context["endpoint"] = name
        with self.bound(request.db):
            response: OAuthResponse = self.create_endpoint_response(name, request)
            return response

    def malformed_response(self, description: str) -> OAuthResponse:
        return self.handle_response(*InvalidRequestError(_description(description))())

    @contextmanager
    def bound(self, session: Session) -> Iterator[None]:
        token = _bound_session.set(session)
        try:
            yield
        finally:
            _bound_session.reset(token)

    # ------------------------------------------------------------------ Authlib hooks
    def create_oauth2_request(self, request: object) -> OAuthRequest:
        if not isinstance(request, OAuthRequest):
            raise TypeError("build the request with sso.oauth.requests.build_request")
        return request

    def query_client(self, client_id: str) -> ClientAdapter | None:
        session = _bound_session.get()
        if session is None:
            raise RuntimeError("no Session bound: call through token_response/endpoint_response")
        return self.load_client(session, client_id)

    def load_client(self, session: Session, client_id: str) -> ClientAdapter | None:
        cleaned = clean_identifier(client_id, 64)
        row = self.tokens.clients.get(session, cleaned) if cleaned else None
        if row is None or row.status != "active":
            return None
        return ClientAdapter(row, self.secret_key)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def handle_response(
        self, status: int, body: Any, headers: Sequence[tuple[str, str]]
    ) -> OAuthResponse:
        merged = {name.lower(): (name, value) for name, value in default_json_headers}
        for name, value in headers:
            merged[name.lower()] = (name, value)
        if isinstance(body, dict) and "error_description" in body:
            body["error_description"] = _description(str(body["error_description"]))
        content = body if isinstance(body, dict | str) else {}
        return OAuthResponse(status, content, list(merged.values()))

    def handle_error_response(self, request: OAuthRequest, error: OAuth2Error) -> OAuthResponse:
        # A device's authorization_pending/slow_down (RFC 8628 §3.5) answers a poll every few
        # seconds: not a refusal worth an audit row each.
        if (
            request.context.get("endpoint") == "token"
            and error.error != "invalid_client"
            and error.error not in ("authorization_pending", "slow_down")
        ):
            grant_type = request.form.get("grant_type")
            known = grant_type if grant_type in GRANT_TYPES else "other"
            client = request.client.client_id if request.client is not None else None
            code = str(error.error)

            def record(session: Session) -> None:
                audit.record(
                    session,
                    TOKEN_REFUSED,
                    outcome="failure",
                    client_id=client,
                    error=code,
                    grant_type=known,
                )

            request.on_error.append(record)
        response: OAuthResponse = super().handle_error_response(request, error)
        return response


def _description(text: str) -> str:
    """error_description restricted to RFC 6749 §5.2's characters."""
    return _DESCRIPTION_OK.sub("", text)[:300]


def build(
    settings: Settings,
    secret_key: bytes,
    tokens: TokenIssuer,
    *,
    openid: Callable[[Any], None] | None = None,
) -> TokenServer:
    """The server with our grants and endpoints; ``openid`` is the OpenID Connect extension
    (``sso.oidc.provider`` passes it) added to the code, refresh and device code grants."""
    server = TokenServer(settings=settings, secret_key=secret_key, tokens=tokens)
    register_grants(server, openid=openid)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(DeviceAuthorizationEndpoint)
    return server


__all__ = [
    "AUTH_METHODS",
    "ASSERTION_TYPE",
    "OAuthResponse",
    "TokenServer",
    "build",
]
