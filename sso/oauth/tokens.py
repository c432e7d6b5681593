"""Access tokens (JWT, RFC 9068) and refresh tokens (opaque, stored as keyed hashes).

An access token is self-contained so a relying party's API can check it with our JWKS alone:
header ``typ: at+jwt``; claims ``iss``, ``sub`` (the person, or the client for
client_credentials), ``aud`` (the client), ``client_id``, ``scope``, ``jti``, ``iat``, ``exp``,
``auth_time`` when a person authenticated, and the private claim ``gid`` (the grant), which
introspection uses to see that the grant behind the token was revoked. Signing keys belong to
the OpenID layer; it hands us a :class:`Signer` (layering: oauth never imports oidc).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_id, random_token
from sso.db.models import Client, Grant
from sso.oauth.client_cache import ClientCache
from sso.storage import grants as grant_repo

ACCESS_TOKEN_TYP = "at+jwt"
REFRESH_TOKEN_PREFIX = "tsso_rt_"


class Signer(Protocol):
    """What we need of the key set (``sso.oidc.keys.KeyService`` is one)."""

    def sign_jwt(
        self,
        claims: Mapping[str, Any],
        alg: str | None = None,
        typ: str | None = None,
        *,
        session: Session | None = None,
    ) -> str: ...

    def verify_jwt(
        self,
        token: str | bytes,
        *,
        typ: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        check_exp: bool = True,
        leeway: int = 0,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Claims of a JWT we signed; raises ``sso.core.errors.InvalidInput`` otherwise."""
        ...


class IssuingServer(Protocol):
    """What grants and endpoints use of their server (``sso.oauth.server.TokenServer``), so
    they need not import it (the server imports them to register them)."""

    secret_key: bytes
    tokens: TokenIssuer

    @property
    def issuer(self) -> str: ...


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    claims: dict[str, Any]
    expires_in: int


@dataclass(frozen=True)
class TokenIssuer:
    settings: Settings
    secret_key: bytes
    signer: Signer
    # The process's copy of client metadata (see sso.oauth.client_cache), shared by the token,
    # introspection, revocation and userinfo endpoints that hold this issuer.
    clients: ClientCache = field(default_factory=ClientCache, compare=False, repr=False)

    @property
    def issuer(self) -> str:
        return self.settings.issuer_url

    def access_token_lifetime(self, client: Client) -> int:
        return client.access_token_lifetime or self.settings.access_token_lifetime

    def refresh_token_lifetime(self, client: Client) -> int:
        return client.refresh_token_lifetime or self.settings.refresh_token_lifetime

    def access_token(
        self,
        session: Session,
        *,
        client: Client,
        grant: Grant,
        scope: str,
    ) -> IssuedAccessToken:
        lifetime = self.access_token_lifetime(client)
        iat = int(now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user_id or client.client_id,
            "aud": client.client_id,
            "client_id": client.client_id,
            "scope": scope,
            "jti": random_id(16),
            "iat": iat,
            "exp": iat + lifetime,
            "gid": grant.id,
        }
        if grant.user_id is not None and grant.auth_time is not None:
            claims["auth_time"] = int(grant.auth_time.timestamp())
        token = self.signer.sign_jwt(
            claims, self.settings.default_signing_alg, ACCESS_TOKEN_TYP, session=session
        )
        return IssuedAccessToken(token, claims, lifetime)

    def refresh_token(
        self,
        session: Session,
        *,
        client: Client,
        grant: Grant,
        scope: str,
        expires_at: datetime | None = None,
    ) -> str:
        """A new refresh token of ``grant``. ``expires_at`` keeps a rotated token's end: a
        refresh token family lives at most ``refresh_token_lifetime`` from its first issue."""
        token = random_token("refresh_token")
        grant_repo.add_refresh_token(
            session,
            token_hash=self.hash_refresh_token(token),
            grant=grant,
            scope=scope,
            lifetime=self.refresh_token_lifetime(client),
            expires_at=expires_at,
        )
        return token

    def hash_refresh_token(self, token: str) -> str:
        return keyed_hash(self.secret_key, token, "refresh_token")

    def access_token_expires_at(self, claims: Mapping[str, Any]) -> datetime:
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return datetime.fromtimestamp(exp, UTC)
        return now() + timedelta(seconds=self.settings.access_token_lifetime)


def token_response(
    access: IssuedAccessToken, scope: str, refresh_token: str | None = None
) -> dict[str, Any]:
    """The RFC 6749 §5.1 body (``id_token`` is added by the OpenID extension)."""
    body: dict[str, Any] = {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
    }
    if scope:
        body["scope"] = scope
    if refresh_token:
        body["refresh_token"] = refresh_token
    return body
