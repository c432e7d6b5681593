"""The OpenID Provider's token side: the OAuth server with the OpenID Connect extension, and
/userinfo (OIDC Core §5.3).

:func:`build_server` makes the server; the composition root builds it once per process (the
application's ``AppRuntime.token_server``). It signs with the process's key cache (the
:class:`~sso.oidc.keys.KeyService` it is given), so nothing here is state another worker needs. The OpenID extension adds an ``id_token`` to
every token response whose scope has ``openid`` and that was issued for a person (code
exchange and refresh, OIDC Core §3.1.3.3 and §12.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sso.core.crypto import Encryptor
from sso.oauth.client_auth import REALM
from sso.oauth.introspection import live_access_token
from sso.oauth.server import TokenServer, build
from sso.oauth.tokens import TokenIssuer
from sso.oidc.claims import userinfo_claims
from sso.oidc.id_token import mint_id_token
from sso.oidc.keys import KeyService
from sso.runtime import Runtime


class ProviderRuntime(Protocol):
    """What /userinfo uses of the application's runtime (``sso.web.app_runtime.AppRuntime``,
    which this layer may not import)."""

    @property
    def encryptor(self) -> Encryptor: ...

    @property
    def token_server(self) -> TokenServer: ...


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


def token_issuer(runtime: Runtime, keys: KeyService) -> TokenIssuer:
    return TokenIssuer(runtime.settings, runtime.secret_key, keys)


def build_server(runtime: Runtime, keys: KeyService) -> TokenServer:
    """The OAuth server with the OpenID extension, signing with ``keys`` (build it once per
    process: it holds the process's client cache and no request state)."""
    tokens = token_issuer(runtime, keys)
    return build(
        runtime.settings, runtime.secret_key, tokens, openid=OpenIDExtension(runtime, tokens)
    )


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


def userinfo(runtime: ProviderRuntime, session: Session, access_token: str) -> dict[str, Any]:
    """Claims for the person behind ``access_token`` (scope claims plus ``claims.userinfo``).

    Raises :class:`BearerError`: ``invalid_token`` (401) for a token that is not live,
    ``insufficient_scope`` (403) without ``openid``.
    """
    live = live_access_token(session, runtime.token_server.tokens, access_token)
    if live is None:
        raise BearerError("invalid_token", 401, "The access token is invalid or expired.")
    if live.user is None or "openid" not in live.scopes:
        raise BearerError("insufficient_scope", 403, "The access token has no openid scope.")
    return userinfo_claims(
        session, runtime.encryptor, live.user, live.client, live.scopes, live.grant.claims
    )
