"""Introspection (RFC 7662), and the one access-token check that introspection, revocation
(:mod:`sso.oauth.revocation`) and /userinfo share.

An access token is live when its signature verifies with a key we publish, it has not expired,
its ``jti`` was not revoked, its grant (``gid``) was not revoked, and its client and person are
still active. A refresh token is live when it is known (by keyed hash), neither rotated, revoked
nor expired, and its grant is live. A client may introspect its own tokens, and access tokens
whose ``aud`` names it; anything else is ``{"active": false}``, indistinguishable from garbage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.errors import InvalidInput
from sso.db.models import Client, Grant, User
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import ACCESS_TOKEN_TYP, REFRESH_TOKEN_PREFIX, IssuingServer, TokenIssuer
from sso.storage import grants as grant_repo
from sso.storage.access_tokens import access_token_state_with_user

INACTIVE: dict[str, Any] = {"active": False}


@dataclass(frozen=True)
class LiveAccessToken:
    claims: dict[str, Any]
    grant: Grant
    client: Client
    user: User | None
    # The person's username (None for a client's own token), also when ``user`` was not loaded.
    username: str | None = None

    @property
    def scopes(self) -> list[str]:
        scope = self.claims.get("scope")
        return scope.split() if isinstance(scope, str) else []

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        return [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]


def verify_access_token(
    session: Session, tokens: TokenIssuer, token: str, *, check_exp: bool = True
) -> dict[str, Any] | None:
    """Claims of an access token we signed (signature, typ, iss, exp), or None."""
    try:
        claims = tokens.signer.verify_jwt(
            token,
            typ=ACCESS_TOKEN_TYP,
            issuer=tokens.issuer,
            check_exp=check_exp,
            session=session,
        )
    except InvalidInput:
        return None
    if not all(isinstance(claims.get(n), str) for n in ("jti", "client_id", "gid", "sub")):
        return None
    return claims


def live_access_token(
    session: Session, tokens: TokenIssuer, token: str, *, load_user: bool = True
) -> LiveAccessToken | None:
    """The access token when it is live (see the module docstring), checked against the
    database on every call: its ``jti``, its grant and its person in one query, its client
    through the process's client cache (revalidated every 2 s). ``load_user=False`` skips
    loading the person's row (``user`` is then None; ``username`` is still set)."""
    claims = verify_access_token(session, tokens, token)
    if claims is None:
        return None
    person: User | None = None
    if load_user:  # /userinfo: the person's row comes with the state, one round trip
        found = access_token_state_with_user(session, claims["gid"], claims["jti"])
        state, person = found if found is not None else (None, None)
    else:
        state = grant_repo.access_token_state(session, claims["gid"], claims["jti"])
    if state is None or state.jti_revoked:
        return None
    grant = state.grant
    if grant.revoked_at is not None or grant.client_id != claims["client_id"]:
        return None
    client = tokens.clients.get(session, claims["client_id"])
    if client is None or client.status != "active":
        return None
    user = None
    if grant.user_id is not None:
        if state.user_status != "active" or grant.user_id != claims["sub"]:
            return None
        if load_user:
            user = person
            if user is None or not user.is_active:
                return None
    return LiveAccessToken(claims, grant, client, user, state.username)


def _live_refresh_token(
    session: Session, tokens: TokenIssuer, token: str
) -> grant_repo.RefreshTokenState | None:
    found = grant_repo.refresh_token_with_grant(session, tokens.hash_refresh_token(token))
    if found is None:
        return None
    row = found.token
    if row.consumed_at or row.revoked_at or row.expires_at <= now():
        return None
    if found.grant.revoked_at is not None:
        return None
    if found.grant.user_id is not None and found.user_status != "active":
        return None
    return found


def introspect(session: Session, tokens: TokenIssuer, client: Client, token: str) -> dict[str, Any]:
    if token.startswith(REFRESH_TOKEN_PREFIX):
        found = _live_refresh_token(session, tokens, token)
        if found is None or found.token.client_id != client.client_id:
            return dict(INACTIVE)
        row = found.token
        body: dict[str, Any] = {
            "active": True,
            "token_type": "refresh_token",
            "scope": row.scope,
            "client_id": row.client_id,
            "iss": tokens.issuer,
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.created_at.timestamp()),
        }
        if found.grant.user_id:
            body["sub"] = found.grant.user_id
        return body
    live = live_access_token(session, tokens, token, load_user=False)
    if live is None:
        return dict(INACTIVE)
    if live.claims["client_id"] != client.client_id and client.client_id not in live.audiences:
        return dict(INACTIVE)
    body = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "auth_time"):
        if name in live.claims:
            body[name] = live.claims[name]
    if live.username is not None:
        body["username"] = live.username
    return body


def token_parameter(request: OAuthRequest) -> str:
    """The ``token`` form parameter of /introspect and /revoke (RFC 7662 §2.1, RFC 7009 §2.1)."""
    token = request.form.get("token")
    if not token:
        raise InvalidRequestError("Missing 'token' parameter.")
    return token


class IntrospectionEndpoint(_Introspection):  # type: ignore[misc]
    # Public clients cannot prove who they are, so they cannot introspect.
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def create_endpoint_response(
        self, request: OAuthRequest
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: ClientAdapter = self.authenticate_endpoint_client(request)
        token = token_parameter(request)
        server: IssuingServer = self.server
        body = introspect(request.db, server.tokens, client.row, token)
        return 200, body, list(default_json_headers)


__all__ = [
    "INACTIVE",
    "IntrospectionEndpoint",
    "LiveAccessToken",
    "introspect",
    "live_access_token",
    "token_parameter",
    "verify_access_token",
]
