"""The OpenID Provider's token side: the OAuth server with the OpenID Connect extension, and
/userinfo (OIDC Core §5.3).

:func:`get_authorization_server` builds the server once per process and keeps it in
``runtime.extras``; it signs with the process's key cache (``sso.oidc.keys.key_service``),
so nothing here is state another worker needs. The OpenID extension adds an ``id_token`` to
every token response whose scope has ``openid`` and that was issued for a person (code
exchange and refresh, OIDC Core §3.1.3.3 and §12.2).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, cast

from sqlalchemy.orm import Session, sessionmaker

from sso.config import Settings
from sso.core.crypto import Encryptor
from sso.oauth.client_auth import REALM
from sso.oauth.introspection import live_access_token
from sso.oauth.server import TokenServer, build
from sso.oauth.tokens import TokenIssuer
from sso.oidc.claims import userinfo_claims
from sso.oidc.id_token import mint_id_token
from sso.oidc.keys import key_service

_SERVER_KEY = "oauth_server"


class Runtime(Protocol):
    """What we use of ``sso.runtime.Runtime`` (services may not import the runtime module)."""

    settings: Settings
    sessions: sessionmaker[Session]
    encryptor: Encryptor
    extras: dict[str, Any]

    @property
    def secret_key(self) -> bytes: ...


_lock = threading.Lock()


class OpenIDExtension:
    """Authlib grant extension: adds the ID token after the grant built its response."""

    def __init__(self, runtime: Runtime, tokens: TokenIssuer) -> None:
        self.runtime = runtime
        self.tokens = tokens

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.add_id_token)

    def add_id_token(self, grant: Any, response: tuple[int, Any, Any]) -> None:
        _, body, _ = response
        context: Mapping[str, Any] = grant.request.context
        user = context.get("user")
        if not isinstance(body, dict) or user is None:
            return
        if "openid" not in str(body.get("scope", "")).split():
            return
        body["id_token"] = mint_id_token(
            self.tokens.signer,
            grant.request.db,
            self.runtime.settings,
            self.runtime.encryptor,
            client=context["client"],
            grant=context["grant"],
            user=user,
            scope=body["scope"],
            access_token=body.get("access_token"),
            nonce=context.get("nonce"),
        )


def token_issuer(runtime: Runtime) -> TokenIssuer:
    # cast: keys.py is typed against sso.runtime.Runtime, which this layer may not import
    return TokenIssuer(runtime.settings, runtime.secret_key, key_service(cast(Any, runtime)))


def build_server(runtime: Runtime) -> TokenServer:
    tokens = token_issuer(runtime)
    return build(
        runtime.settings, runtime.secret_key, tokens, openid=OpenIDExtension(runtime, tokens)
    )


def get_authorization_server(runtime: Runtime) -> TokenServer:
    """The process's server (built on first use, kept in ``runtime.extras``)."""
    server = runtime.extras.get(_SERVER_KEY)
    if isinstance(server, TokenServer):
        return server
    with _lock:
        server = runtime.extras.get(_SERVER_KEY)
        if not isinstance(server, TokenServer):
            server = runtime.extras[_SERVER_KEY] = build_server(runtime)
        return server


# ---------------------------------------------------------------------------- /userinfo


class BearerError(Exception):
    """An RFC 6750 §3 error: ``status`` and the ``WWW-Authenticate`` challenge to send."""

    def __init__(self, error: str | None, status: int, description: str = "") -> None:
        super().__init__(error or "missing token")
        self.error = error
        self.status = status
        self.description = description

    @property
    def challenge(self) -> str:
        parts = [f'realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        return "Bearer " + ", ".join(parts)

    @property
    def body(self) -> dict[str, str]:
        if not self.error:
            return {}
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def userinfo(runtime: Runtime, session: Session, access_token: str) -> dict[str, Any]:
    """Claims for the person behind ``access_token`` (scope claims plus ``claims.userinfo``).

    Raises :class:`BearerError`: ``invalid_token`` (401) for a token that is not live,
    ``insufficient_scope`` (403) without ``openid``.
    """
    server = get_authorization_server(runtime)
    live = live_access_token(session, server.tokens, access_token)
    if live is None:
        raise BearerError("invalid_token", 401, "The access token is invalid or expired.")
    if live.user is None or "openid" not in live.scopes:
        raise BearerError("insufficient_scope", 403, "The access token has no openid scope.")
    return userinfo_claims(
        session, runtime.encryptor, live.user, live.client, live.scopes, live.grant.claims
    )
