"""The refresh token grant at /token (RFC 6749 §6), with rotation (RFC 9700 §4.14.2).

Refresh tokens rotate on every use. Presenting one that was already rotated, while its grant is
live, is a reuse: it revokes the grant (all its refresh tokens, and its access tokens at
introspection/userinfo) and records ``refresh_token.reused``. A token that is revoked (logout,
revocation, its person disabled) or expired is refused with ``invalid_grant`` and nothing else.
``scope`` may only narrow; the new refresh token keeps the original scope and the original
expiry.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants
from authlib.oauth2.rfc6749.hooks import hooked

from sso.core.clock import now
from sso.core.events import Event
from sso.db.models import Grant, RefreshToken
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.grants.base import TokenGrant
from sso.storage import grants as grant_repo


class StoredRefreshToken:
    """Authlib's view of a refresh token row."""

    def __init__(self, row: RefreshToken, grant: Grant) -> None:
        self.row = row
        self.grant = grant

    def check_client(self, client: ClientAdapter) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope


class RefreshTokenGrant(TokenGrant, grants.RefreshTokenGrant):  # type: ignore[misc]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredRefreshToken | None:
        token_hash = self.server.tokens.hash_refresh_token(refresh_token)
        found = grant_repo.refresh_token_with_grant(self.db, token_hash)
        # Another client's token is unknown to this one (and never revokes the owner's grant).
        if found is None or found.token.client_id != self.request.client.get_client_id():
            return None
        row, grant = found.token, found.grant
        self._refuse(grant_repo.refresh_token_status(found, now()), grant.id)
        return StoredRefreshToken(row, grant)

    def _refuse(self, status: str, grant_id: str) -> None:
        """Only a reuse revokes the grant and is recorded; the rest are ordinary refusals."""
        if status == grant_repo.LIVE:
            return
        if status == grant_repo.REUSED:
            self.revoke_grant_on_error(grant_id, Event.REFRESH_TOKEN_REUSED)
            raise InvalidGrantError("The refresh token was already used.")
        if status == grant_repo.EXPIRED:
            raise InvalidGrantError("The refresh token expired.")
        raise InvalidGrantError("The refresh token was revoked.")

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        presented: StoredRefreshToken = self.request.refresh_token
        row, grant = presented.row, presented.grant
        # Another request may have rotated it a moment ago (the same token used twice: reuse)
        # or revoked it (a logout: an ordinary refusal).
        status = grant_repo.consume_refresh_token(self.db, row.token_hash)
        self._refuse(grant_repo.EXPIRED if status == grant_repo.UNKNOWN else status, grant.id)
        user = self.live_user(grant)
        requested = self.request.payload.scope
        scope = " ".join(dict.fromkeys(requested.split())) if requested else row.scope
        refresh = self.server.tokens.refresh_token(
            self.db,
            client=self.client_row(),
            grant=grant,
            scope=row.scope,
            expires_at=row.expires_at,
        )
        body = self.issue(grant, user, scope, refresh=refresh)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


__all__ = ["RefreshTokenGrant", "StoredRefreshToken"]
