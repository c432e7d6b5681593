"""Token revocation (RFC 7009).

Only the client a token was issued to may revoke it; revoking a refresh token revokes its
whole grant, revoking an access token lists its ``jti`` until it would have expired. Unknown,
already dead or malformed tokens are answered 200 like live ones (§2.2).
"""

from __future__ import annotations

from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc7009 import RevocationEndpoint as AuthlibRevocationEndpoint
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.events import Event
from sso.db.models import Client
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.introspection import token_parameter, verify_access_token
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import REFRESH_TOKEN_PREFIX, IssuingServer, TokenIssuer
from sso.storage import audit
from sso.storage import grants as grant_repo


class RevocationEndpoint(AuthlibRevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def create_endpoint_response(
        self, request: OAuthRequest
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: ClientAdapter = self.authenticate_endpoint_client(request)
        token = token_parameter(request)
        server: IssuingServer = self.server
        revoke(request.db, server.tokens, client.row, token)
        return 200, {}, list(default_json_headers)


def revoke(session: Session, tokens: TokenIssuer, client: Client, token: str) -> None:
    """RFC 7009 §2.1; unknown (or already dead) tokens are fine, another client's are not."""
    if token.startswith(REFRESH_TOKEN_PREFIX):
        row = grant_repo.get_refresh_token(session, tokens.hash_refresh_token(token))
        if row is None:
            return
        if row.client_id != client.client_id:
            raise InvalidGrantError("The token was issued to another client.")
        if grant_repo.revoke_grant(session, row.grant_id):
            audit.record(
                session,
                Event.GRANT_REVOKED,
                client_id=client.client_id,
                target_type="grant",
                target_id=row.grant_id,
                reason="revocation",
            )
        return
    claims = verify_access_token(session, tokens, token, check_exp=False)
    if claims is None:
        return
    if claims["client_id"] != client.client_id:
        raise InvalidGrantError("The token was issued to another client.")
    expires_at = tokens.access_token_expires_at(claims)
    if expires_at <= now() or grant_repo.is_access_token_revoked(session, claims["jti"]):
        return
    grant_repo.revoke_access_token(session, claims["jti"], expires_at)
    audit.record(
        session,
        Event.TOKEN_REVOKED,
        client_id=client.client_id,
        target_type="access_token",
        target_id=claims["jti"],
        grant_id=claims["gid"],
    )


__all__ = ["RevocationEndpoint", "revoke"]
